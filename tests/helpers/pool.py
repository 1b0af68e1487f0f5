"""Programs of the warm-pool tests: what one run leaves behind, a look for it, and a mark that
two concurrent runs would see in each other's /tmp if they shared a sandbox."""

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
MARK_AND_LIST_TMP = (
    "import os, sys, time, pathlib\n"
    "pathlib.Path('/tmp', sys.argv[1]).write_text('x')\n"
    "time.sleep(1.5)\n"
    "print(sorted(os.listdir('/tmp')))\n"
)
