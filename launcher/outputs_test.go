package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func outputsBundle(script string, globs ...string) map[string]any {
	b := shBundle(script)
	b["outputs"] = map[string]any{"globs": globs, "max_files": 16, "max_bytes": 1 << 20}
	return b
}

func TestOutputsCollectedByteExact(t *testing.T) {
	b := outputsBundle(`mkdir -p out/sub; printf '\211PNG\r\n\032\n\000\377' > out/a.png;
		printf 'x,y\n1,2\n' > result.csv; echo no > out/b.txt; echo hidden > out/.h.png;
		echo deep > out/sub/c.png`, "out/*.png", "result.csv", "out/*.png", "missing.txt")
	o := runBundle(t, b, 65536)
	expect(t, "files", len(o.files), 2)
	if !bytes.Equal(o.files["out/a.png"], []byte("\x89PNG\r\n\x1a\n\x00\xff")) {
		t.Errorf("png = %q", o.files["out/a.png"])
	}
	expect(t, "csv", string(o.files["result.csv"]), "x,y\n1,2\n")
	// f frames come after the run's r frame.
	expect(t, "frames", o.frames[:2], []string{"r", "f"})
	expect(t, "first f header", o.records[0]["name"], "out/a.png")
	expect(t, "size", o.records[0]["size"], 10)
	expect(t, "truncated", o.records[0]["truncated"], false)
}

func TestOutputsRefuseSymlinks(t *testing.T) {
	outside := t.TempDir()
	writeTestFile(t, filepath.Join(outside, "secret"), "secret\n")
	b := outputsBundle(`ln -s /etc/passwd out.csv; echo in > inside.txt; ln -s inside.txt alias.csv;
		ln -s `+outside+` dir; mkfifo pipe.csv`, "*.csv", "dir/secret", "dir/*")
	o := runBundle(t, b, 65536)
	if len(o.files) != 0 {
		t.Errorf("files sent: %v", o.files)
	}
	skipped := map[string]any{}
	for _, r := range o.records {
		skipped[r["name"].(string)] = r["skipped"]
	}
	expect(t, "skipped", skipped, map[string]any{
		"alias.csv": "a symlink", "dir": "a symlink", "out.csv": "a symlink", "pipe.csv": "not a regular file",
	})
}

func TestOutputsTruncatedAndCounted(t *testing.T) {
	b := outputsBundle(`head -c 100000 /dev/zero > big.bin; for i in 1 2 3; do echo $i > f$i.txt; done`,
		"big.bin", "f*.txt")
	b["outputs"].(map[string]any)["max_bytes"] = 70000
	b["outputs"].(map[string]any)["max_files"] = 3
	o := runBundle(t, b, 65536)
	expect(t, "big.bin bytes", len(o.files["big.bin"]), 70000)
	expect(t, "big.bin header", []any{o.records[0]["size"], o.records[0]["truncated"]}, []any{100000, true})
	expect(t, "f1 sent empty (budget spent)", []any{o.records[1]["name"], o.records[1]["truncated"]},
		[]any{"f1.txt", true})
	last := o.records[len(o.records)-1]
	expect(t, "the fourth", []any{last["name"], last["skipped"]}, []any{"f3.txt", "more than the output file limit"})
	if o.maxFrame > maxFrameBytes {
		t.Errorf("a frame of %d bytes", o.maxFrame)
	}
}

func TestOpenBeneathRefusesSwappedPaths(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	writeTestFile(t, filepath.Join(outside, "f"), "x")
	os.Symlink(outside, filepath.Join(root, "d"))
	if f, err := openBeneath(root, "d/f"); err == nil {
		f.Close()
		t.Fatal("followed a symlinked directory")
	}
	os.Mkdir(filepath.Join(root, "real"), 0o755)
	writeTestFile(t, filepath.Join(root, "real", "f"), "ok")
	f, err := openBeneath(root, "real/f")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestOutputsBadGlobsRefused(t *testing.T) {
	for _, glob := range []string{"../*", "/etc/*", "a/../../b", "[", ""} {
		o := runBundle(t, outputsBundle("true", glob), 65536)
		if o.exitCode != exitLauncherError || !onlyErrorFrame(o) {
			t.Errorf("glob %q: exit %d frames %v", glob, o.exitCode, o.frames)
		}
	}
}
