package main

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func casesBundle(t *testing.T, script string, cases ...map[string]any) map[string]any {
	b := shBundle(script)
	b["cases"] = cases
	b["clean_dirs"] = []string{t.TempDir()}
	return b
}

func TestCasesFramesStdinAndArgs(t *testing.T) {
	b := casesBundle(t, `echo "args=$*"; cat; echo err >&2`,
		map[string]any{"stdin_b64": b64("one\n")},
		map[string]any{"stdin_b64": b64("two\n"), "args": []string{"x", "y z"}},
	)
	b["command"] = []string{"sh", "-c", `echo "args=$*"; cat; echo err >&2`, "sh", "base"}
	o := runBundle(t, b, 65536)
	expect(t, "case 0 stdout", o.out("0o"), "args=base\none\n")
	expect(t, "case 1 stdout", o.out("1o"), "args=base x y z\ntwo\n")
	expect(t, "case 1 stderr", o.out("1e"), "err\n")
	expect(t, "plain o frames", o.out("o"), "")
	expect(t, "results", len(o.results), 2)
	for i, r := range o.results {
		expect(t, "case index", r["case"], i)
		expect(t, "stage", r["stage"], "run")
	}
	expect(t, "last frame", o.frames[len(o.frames)-1], "d")
	d := o.records[len(o.records)-1]
	expect(t, "done", []any{d["cases"], d["ran"], d["stopped"]}, []any{2, 2, false})
	expect(t, "launcher exit", o.exitCode, 0)
}

func TestCasesStartFromTheSameWorkdirAndAnEmptyTmp(t *testing.T) {
	tmp := t.TempDir()
	// Case 0 leaves files, an unwritable directory and a read-only work directory behind;
	// case 1 must see the work directory as the compile left it, and an empty tmp.
	script := `ls -A; ls -A ` + tmp + `; cat built;
		echo leftover > left.txt; echo x > built; mkdir -p locked/deep; touch locked/deep/f;
		chmod 000 locked; echo t > ` + tmp + `/t.txt; chmod 500 .`
	b := shBundle(script)
	b["compile"] = map[string]any{"command": []string{"sh", "-c", "echo from-compile > built; ln -s built link"}}
	b["cases"] = []map[string]any{{}, {}, {}}
	b["clean_dirs"] = []string{tmp}
	o := runBundle(t, b, 65536)
	want := "built\nlink\nfrom-compile\n"
	for i := 0; i < 3; i++ {
		got := o.out(string(rune('0'+i)) + "o")
		if got != want {
			t.Errorf("case %d saw %q, want %q (stderr %q)", i, got, want, o.out(string(rune('0'+i))+"e"))
		}
	}
	expect(t, "launcher exit", o.exitCode, 0)
	os.Chmod(b["workdir"].(string), 0o755)
	os.Chmod(filepath.Join(b["workdir"].(string), "locked"), 0o755)
}

func TestCasesStopOnFailure(t *testing.T) {
	cases := []map[string]any{{"stdin_b64": b64("0")}, {"stdin_b64": b64("3")}, {"stdin_b64": b64("0")}}
	for _, stop := range []bool{true, false} {
		b := casesBundle(t, `read code; echo ran; exit $code`)
		b["cases"] = cases
		b["stop_on_failure"] = stop
		o := runBundle(t, b, 65536)
		d := o.records[len(o.records)-1]
		if stop {
			expect(t, "done", []any{d["ran"], d["stopped"]}, []any{2, true})
		} else {
			expect(t, "done", []any{d["ran"], d["stopped"]}, []any{3, false})
		}
		expect(t, "launcher exit: the first failing case's", o.exitCode, 3)
	}
}

func TestCasesOneTimesOutOthersPass(t *testing.T) {
	b := casesBundle(t, `read s; sleep $s; echo done`,
		map[string]any{"stdin_b64": b64("0\n")},
		map[string]any{"stdin_b64": b64("10\n")},
		map[string]any{"stdin_b64": b64("0\n")},
	)
	b["timeout_ms"] = 300
	o := runBundle(t, b, 65536)
	expect(t, "timed out", []any{o.results[0]["timed_out"], o.results[1]["timed_out"], o.results[2]["timed_out"]},
		[]any{false, true, false})
	expect(t, "case 2 ran after it", o.out("2o"), "done\n")
	expect(t, "launcher exit", o.exitCode, 137)
}

func TestCasesShareTheOutputBudget(t *testing.T) {
	b := casesBundle(t, `head -c 600 /dev/zero`, map[string]any{}, map[string]any{}, map[string]any{})
	b["cases_output_limit"] = 1000
	o := runBundle(t, b, 65536)
	expect(t, "bytes", []int{len(o.out("0o")), len(o.out("1o")), len(o.out("2o"))}, []int{600, 400, 0})
	expect(t, "truncated", []any{o.results[0]["stdout_truncated"], o.results[1]["stdout_truncated"],
		o.results[2]["stdout_truncated"]}, []any{false, true, true})
}

func TestCasesKillLeftoversBeforeTheNext(t *testing.T) {
	prefix := pid1Prefix(t)
	// Each case counts the processes of the sandbox, then leaves a sleep behind that
	// escaped its process group: the next case must count as many as the first.
	b := shBundle(`set -- /proc/[0-9]*; echo $#; setsid sleep 30 & echo started`)
	b["cases"] = []map[string]any{{}, {}, {}}
	b["clean_dirs"] = []string{t.TempDir()}
	o := runLauncher(t, []string{"ISOBOX_BUNDLE_0=" + encodeBundle(t, b)}, prefix)
	if o.out("0o") == "" || o.out("1o") != o.out("0o") || o.out("2o") != o.out("0o") {
		t.Errorf("process counts differ: %q %q %q", o.out("0o"), o.out("1o"), o.out("2o"))
	}
}

func TestCasesRefuseBadBundles(t *testing.T) {
	for name, mutate := range map[string]func(map[string]any){
		"bad stdin":      func(b map[string]any) { b["cases"] = []map[string]any{{"stdin_b64": "@"}} },
		"relative clean": func(b map[string]any) { b["clean_dirs"] = []string{"tmp"} },
		"root clean":     func(b map[string]any) { b["clean_dirs"] = []string{"/"} },
		"outputs and cases": func(b map[string]any) {
			b["outputs"] = map[string]any{"globs": []string{"x"}}
		},
	} {
		b := casesBundle(t, "true", map[string]any{})
		mutate(b)
		o := runBundle(t, b, 65536)
		if o.exitCode != exitLauncherError || !onlyErrorFrame(o) {
			t.Errorf("%s: exit %d frames %v", name, o.exitCode, o.frames)
		}
	}
}

func TestCaseFramesWithoutCasesUnchanged(t *testing.T) {
	o := runBundle(t, shBundle("echo hi"), 65536)
	expect(t, "frames", o.frames, []string{"o", "r"})
	if _, ok := o.results[0]["case"]; ok {
		t.Errorf("a single run's r frame has a case: %v", o.results[0])
	}
}

func TestCasesRestoreWhatANonRootProgramLocked(t *testing.T) {
	setpriv, err := exec.LookPath("setpriv")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and setpriv")
	}
	workdir, tmp := t.TempDir(), t.TempDir()
	for _, dir := range []string{workdir, tmp} {
		os.Chmod(filepath.Dir(dir), 0o755)
		os.Chown(dir, 65534, 65534)
	}
	os.Chmod(tmp, 0o1777)
	b := shBundle(`ls -A; ls -A ` + tmp + `; mkdir -p locked/deep; touch locked/deep/f; chmod 000 locked;
		mkdir ` + tmp + `/x; touch ` + tmp + `/x/y; chmod 000 ` + tmp + `/x; chmod 500 .`)
	b["workdir"] = workdir
	b["files"] = []map[string]string{{"path": "main.sh", "content_b64": b64("x")}}
	b["cases"] = []map[string]any{{}, {}}
	b["clean_dirs"] = []string{tmp}
	env := []string{"ISOBOX_BUNDLE_0=" + encodeBundle(t, b)}
	o := runLauncher(t, env, []string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"})
	expect(t, "case 1 saw", o.out("1o"), "main.sh\n")
	expect(t, "case 1 stderr", o.out("1e"), "")
	expect(t, "frames end", o.frames[len(o.frames)-1], "d")
	os.Chmod(workdir, 0o755)
	os.Chmod(filepath.Join(workdir, "locked"), 0o755)
	os.Chmod(filepath.Join(tmp, "x"), 0o755)
}
