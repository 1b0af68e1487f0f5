package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// Test cases: the compiled (or written) work directory is run once per case, each case a
// fresh process tree with the run stage's limits, from a fresh copy of the work directory and
// an empty /tmp, so nothing one case writes reaches the next (docs/design.md, "Test cases").
//
// The copy is kept in the launcher's memory, not on disk: every file the launcher could
// write, the program (same uid) could change, and a case could then plant something for the
// next one. It costs the work directory's size once more, inside the sandbox's memory.

// snapEntry is one file, directory or symlink of the work directory.
type snapEntry struct {
	rel  string
	mode fs.FileMode
	data []byte // regular files
	link string // symlinks
}

// workSnapshot is the work directory as it was before the first case.
type workSnapshot struct {
	rootMode fs.FileMode
	entries  []snapEntry // parents before children (WalkDir's lexical order)
}

// takeSnapshot reads the whole tree under root without following any symlink. Anything
// that is neither a regular file, a directory nor a symlink (a FIFO, a socket) is left out.
func takeSnapshot(root string) (*workSnapshot, error) {
	info, err := os.Lstat(root)
	if err != nil {
		return nil, err
	}
	snap := &workSnapshot{rootMode: modeBits(info.Mode())}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == root {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		info, err := d.Info() // lstat
		if err != nil {
			return err
		}
		e := snapEntry{rel: rel, mode: info.Mode()}
		switch {
		case info.Mode().IsRegular():
			if e.data, err = readNoFollow(path); err != nil {
				return err
			}
		case info.Mode()&fs.ModeSymlink != 0:
			if e.link, err = os.Readlink(path); err != nil {
				return err
			}
		case !info.IsDir():
			return nil
		}
		snap.entries = append(snap.entries, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("snapshot of the work directory: %w", err)
	}
	return snap, nil
}

func readNoFollow(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is no longer a regular file", path)
	}
	return io.ReadAll(f)
}

// decodeStdin decodes a case's stdin_b64.
func decodeStdin(b64 string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(b64)
}

// restore empties root and writes the snapshot back, modes included.
func (s *workSnapshot) restore(root string) error {
	if err := emptyDir(root); err != nil {
		return fmt.Errorf("emptying the work directory: %w", err)
	}
	for _, e := range s.entries {
		path := filepath.Join(root, e.rel)
		var err error
		switch {
		case e.mode.IsDir():
			err = os.Mkdir(path, 0o700)
		case e.mode&fs.ModeSymlink != 0:
			err = os.Symlink(e.link, path)
		default:
			err = writeNew(path, e.data)
		}
		if err != nil {
			return fmt.Errorf("restoring %s: %w", e.rel, err)
		}
	}
	// Modes last, deepest first, so a read-only directory is filled before it is closed.
	for i := len(s.entries) - 1; i >= 0; i-- {
		e := s.entries[i]
		if e.mode&fs.ModeSymlink != 0 {
			continue
		}
		if err := os.Chmod(filepath.Join(root, e.rel), modeBits(e.mode)); err != nil {
			return fmt.Errorf("restoring the mode of %s: %w", e.rel, err)
		}
	}
	os.Chmod(root, s.rootMode) // fails only where the program could not change it either
	return nil
}

// modeBits keeps what chmod sets: permissions, sticky, set-id bits.
func modeBits(m fs.FileMode) fs.FileMode {
	return m & (fs.ModePerm | fs.ModeSticky | fs.ModeSetgid | fs.ModeSetuid)
}

func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// emptyDir removes everything below dir (never dir itself, often a mount point), also
// what a program made hard to remove: directories without write or search permission.
// dir itself gets owner rwx back if the launcher owns it (the program, same uid, may have
// taken them away); a dir it does not own (/tmp, mode 1777) the program could not change.
func emptyDir(dir string) error {
	if info, err := os.Lstat(dir); err != nil {
		return err
	} else if !info.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	} else if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) == os.Geteuid() {
		os.Chmod(dir, modeBits(info.Mode())|0o700)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := removeTree(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func removeTree(path string) error {
	info, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	if info.IsDir() {
		if err := emptyDir(path); err != nil {
			return err
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// runCases runs the bundle's command once per case and returns the launcher's exit code:
// the first failing case's status, else 0. It ends with the d frame.
func (rn *runner) runCases(b *Bundle, run stage) (int, error) {
	snap, err := takeSnapshot(b.Workdir)
	if err != nil {
		return 0, err
	}
	var shared *budget
	if b.CasesOutputLimit > 0 {
		shared = &budget{left: b.CasesOutputLimit}
	}
	status, ran, stopped := 0, 0, false
	for i, c := range b.Cases {
		if i > 0 {
			if err := snap.restore(b.Workdir); err != nil {
				return 0, err
			}
		}
		for _, dir := range b.CleanDirs {
			if err := emptyDir(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
				return 0, fmt.Errorf("emptying %s: %w", dir, err)
			}
		}
		st := run
		st.prefix, st.argv, st.budget = strconv.Itoa(i), b.argv(c), shared
		st.stdin, _ = decodeStdin(c.StdinB64) // validated by checkCases
		res := rn.run(st)
		index := i
		res.Case = &index
		ran++
		if err := rn.frames.result(res); err != nil {
			return res.exitStatus(), nil
		}
		if res.failed() && status == 0 {
			status = res.exitStatus()
			if status == 0 {
				status = 1 // e.g. output cut: the case failed although it exited 0
			}
		}
		if res.failed() && b.StopOnFailure {
			stopped = i < len(b.Cases)-1
			break
		}
	}
	rn.frames.record("d", Done{Cases: len(b.Cases), Ran: ran, Stopped: stopped})
	return status, nil
}
