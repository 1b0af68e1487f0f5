"""Languages with a compile step, on every backend: the compile stage is reported apart from
the run, and has its own time and memory limits."""

from __future__ import annotations

import pytest

from tests.backends.test_behaviour import behaviour_client, run
from tests.helpers.backends import BACKENDS, GVISOR


@pytest.fixture(scope="module", params=[*BACKENDS, *GVISOR])
async def client(request):
    """Every compiled language on every backend, and under gVisor on docker and kubernetes."""
    async with behaviour_client(request, request.param) as client:
        yield client


HELLO = {
    "ruby": 'puts "Hello from isobox!"',
    "c": '#include <stdio.h>\nint main(void) { puts("Hello from isobox!"); return 0; }\n',
    "cpp": '#include <iostream>\nint main() { std::cout << "Hello from isobox!" << std::endl; }\n',
    "go": 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("Hello from isobox!") }\n',
    "java": (
        "public class Main {\n"
        '  public static void main(String[] args) { System.out.println("Hello from isobox!"); }\n'
        "}\n"
    ),
    "rust": 'fn main() { println!("Hello from isobox!"); }\n',
}
COMPILED = {"c", "cpp", "go", "java", "rust"}
# Allocates and touches the given number of MiB, then says so. The writes go through a volatile
# pointer: the compiler would otherwise drop a buffer that is never read.
C_ALLOCATE = """#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
  size_t size = strtoul(argv[1], NULL, 10) << 20;
  volatile char *p = malloc(size);
  if (!p) return 9;
  for (size_t i = 0; i < size; i += 4096) p[i] = 1;
  printf("touched %s MiB\\n", argv[1]);
  return 0;
}
"""


@pytest.mark.parametrize("language", sorted(HELLO))
async def test_hello_world_in_each_language(client, language):
    result = await run(client, language, HELLO[language], timeout=20)
    assert (result["stdout"], result["exit_code"]) == ("Hello from isobox!\n", 0), result
    if language in COMPILED:
        compiled = result["compile"]
        assert (compiled["exit_code"], compiled["timed_out"]) == (0, False), compiled
        assert compiled["duration_ms"] > 0
    else:
        assert result["compile"] is None


async def test_a_compile_error_is_told_apart_from_a_runtime_error(client):
    broken = await run(client, "c", "int main(void) { return undefined_name; }\n")
    assert broken["compile"]["exit_code"] != 0
    assert "undefined_name" in broken["compile"]["stderr"]
    # The program never ran.
    assert (broken["exit_code"], broken["stdout"], broken["stderr"]) == (None, "", "")

    failing = await run(
        client, "c", '#include <stdio.h>\nint main(void) { fputs("bad\\n", stderr); return 3; }\n'
    )
    assert failing["compile"]["exit_code"] == 0
    assert (failing["exit_code"], failing["stderr"]) == (3, "bad\n")


async def test_warnings_do_not_fail_the_compile(client):
    result = await run(client, "c", "int main(void) { int unused; return 0; }\n")
    assert "unused" in result["compile"]["stderr"]
    assert (result["compile"]["exit_code"], result["exit_code"]) == (0, 0)


async def test_the_compile_step_has_its_own_timeout(client):
    result = await run(client, "cpp", HELLO["cpp"], compile_timeout=0.05, timeout=20)
    assert result["compile"]["timed_out"] is True
    assert result["compile"]["exit_code"] is None
    assert result["timed_out"] is False
    assert result["exit_code"] is None


async def test_the_compile_step_has_its_own_memory_limit(client):
    # cc1plus needs far more than 20 MiB for <iostream>; the program would need almost none.
    result = await run(client, "cpp", HELLO["cpp"], compile_memory=20, memory=256)
    compiled = result["compile"]
    # Held by RLIMIT_DATA (the compiler's allocation fails) or by the launcher's watchdog.
    assert compiled["oom_killed"] or "memory" in compiled["stderr"], compiled
    assert compiled["exit_code"] != 0
    assert result["exit_code"] is None


async def test_the_program_keeps_its_own_memory_limit_below_the_compilers(client):
    # The sandbox is sized for the 512 MiB compile; the program is still held to 48 MiB.
    within = await run(
        client, "c", C_ALLOCATE, args=["16"], memory=48, compile_memory=512, timeout=20
    )
    assert (within["stdout"], within["exit_code"]) == ("touched 16 MiB\n", 0), within
    beyond = await run(
        client, "c", C_ALLOCATE, args=["200"], memory=48, compile_memory=512, timeout=20
    )
    assert beyond["compile"]["exit_code"] == 0
    # Killed by the launcher's watchdog, or, when faster than its sampling, caught by the
    # peak resident set once it ended.
    assert beyond["oom_killed"] is True, beyond


async def test_go_builds_with_the_precompiled_standard_library(client):
    # Rebuilt per run (as without cgo), net/http would not fit in /tmp.
    code = (
        'package main\n\nimport (\n\t"crypto/sha256"\n\t"fmt"\n\t"net/http"\n)\n\n'
        "func main() { fmt.Println(http.StatusText(418), sha256.Sum256(nil)[0]) }\n"
    )
    result = await run(client, "go", code, timeout=20)
    assert result["stdout"] == "I'm a teapot 227\n", result


async def test_stdin_and_args_reach_a_compiled_program(client):
    code = (
        'package main\n\nimport (\n\t"bufio"\n\t"fmt"\n\t"os"\n)\n\n'
        "func main() {\n\tline, _ := bufio.NewReader(os.Stdin).ReadString('\\n')\n"
        '\tfmt.Printf("%s|%s", os.Args[1], line)\n}\n'
    )
    result = await run(client, "go", code, args=["arg one"], stdin="from stdin\n", timeout=20)
    assert result["stdout"] == "arg one|from stdin\n", result


async def test_languages_lists_versions_aliases_and_compile_steps(client):
    listing = (await client.get("/languages")).json()["languages"]
    languages = {entry["name"]: entry for entry in listing}
    assert set(HELLO) <= set(languages)
    assert languages["cpp"]["compiled"] is True
    assert "c++" in languages["cpp"]["aliases"]
    assert languages["ruby"]["compiled"] is False
    assert all(languages[name]["version"] for name in HELLO)


async def test_the_launchers_environment_stays_unreadable(client):
    # The launcher (PID 1) received the run's bundle in its environment; a program that could
    # read it could forge result frames.
    code = (
        "#include <stdio.h>\n"
        'int main(void) { if (!fopen("/proc/1/environ", "r")) perror("environ"); return 0; }\n'
    )
    result = await run(client, "c", code)
    assert result["stderr"] == "environ: Permission denied\n", result
