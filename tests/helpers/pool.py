"""Programs of the warm-pool tests: what one run leaves behind, and a look for it."""

LEAVE_TRACES = (
    "import subprocess, pathlib\n"
    "pathlib.Path('/tmp/marker').write_text('a')\n"
    "pathlib.Path('marker').write_text('a')\n"
    "subprocess.Popen(['sleep', '300'])\n"
    "print('left')\n"
)
LOOK_FOR_TRACES = (
    "import os, pathlib\n"
    "procs = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
    "comms = [pathlib.Path(f'/proc/{p}/comm').read_text().strip() for p in procs]\n"
    "print(os.path.exists('/tmp/marker'), os.path.exists('marker'), 'sleep' in comms)\n"
)
