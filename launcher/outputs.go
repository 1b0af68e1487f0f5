package main

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// Output files: after the run stage (its processes all killed), the launcher sends back the
// regular files of the work directory that match the bundle's globs, as f and fd frames
// (docs/design.md, "Files out"). Matching walks the tree with lstat and never enters a
// symlink; reading opens every path element with O_NOFOLLOW from the work directory down
// (openat), so neither a symlink nor a path swapped meanwhile can lead outside it. A
// symlink that matches is refused even when it points at a file inside.

// maxMatches bounds the walk's bookkeeping whatever the program left behind.
const maxMatches = 10000

// match is one path a glob named, relative to the work directory.
type match struct {
	rel     string
	skipped string // why it is not sent, or ""
}

// collectOutputs writes an f frame (and its fd frames) per matching file.
func collectOutputs(fw *frameWriter, workdir string, o *Outputs) {
	found := map[string]string{}
	for _, glob := range o.Globs {
		rel, err := cleanRelPath(glob)
		if err != nil {
			continue // refused by checkOutputs already
		}
		walkGlob(workdir, "", strings.Split(rel, "/"), found)
	}
	matches := make([]match, 0, len(found))
	for rel, skipped := range found {
		matches = append(matches, match{rel, skipped})
	}
	sort.Slice(matches, func(i, j int) bool { return matches[i].rel < matches[j].rel })
	sent, reported, left := 0, 0, o.MaxBytes
	for _, m := range matches {
		if m.skipped == "" && sent >= o.MaxFiles {
			m.skipped = "more than the output file limit"
		}
		if m.skipped != "" {
			if reported < o.MaxFiles {
				fw.record("f", FileHeader{Name: m.rel, Skipped: m.skipped})
				reported++
			}
			continue
		}
		if reason := sendFile(fw, workdir, m.rel, &left); reason != "" {
			if reported < o.MaxFiles {
				fw.record("f", FileHeader{Name: m.rel, Skipped: reason})
				reported++
			}
			continue
		}
		sent++
	}
}

// walkGlob matches elems (a glob split at "/") below root/prefix. A wildcard element
// matches no name starting with "." unless it starts with "." itself, as in a shell.
func walkGlob(root, prefix string, elems []string, found map[string]string) {
	if len(elems) == 0 || len(found) >= maxMatches {
		return
	}
	elem, last := elems[0], len(elems) == 1
	var names []string
	if !hasMeta(elem) {
		names = []string{elem}
	} else {
		entries, err := os.ReadDir(filepath.Join(root, prefix))
		if err != nil {
			return
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") && !strings.HasPrefix(elem, ".") {
				continue
			}
			if ok, _ := filepath.Match(elem, e.Name()); ok {
				names = append(names, e.Name())
			}
		}
	}
	for _, name := range names {
		rel := filepath.Join(prefix, name)
		info, err := os.Lstat(filepath.Join(root, rel))
		switch {
		case err != nil:
			continue
		case info.Mode()&os.ModeSymlink != 0:
			found[rel] = "a symlink"
		case last && info.Mode().IsRegular():
			found[rel] = ""
		case last:
			found[rel] = "not a regular file"
		case info.IsDir():
			walkGlob(root, rel, elems[1:], found)
		}
		if len(found) >= maxMatches {
			return
		}
	}
}

func hasMeta(elem string) bool {
	return strings.ContainsAny(elem, `*?[`)
}

// sendFile frames one file, at most *left bytes of it; "" when sent, else why not.
func sendFile(fw *frameWriter, workdir, rel string, left *int64) string {
	f, err := openBeneath(workdir, rel)
	if errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.ENOTDIR) {
		return "a symlink"
	} else if err != nil {
		return "cannot be opened"
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		return "not a regular file"
	}
	size := info.Size()
	take := size
	if take > *left {
		take = *left
	}
	fw.record("f", FileHeader{Name: rel, Size: size, Truncated: take < size, Sent: take})
	buf := make([]byte, maxFrameBytes)
	for take > 0 {
		n, err := f.Read(buf[:minInt64(take, int64(len(buf)))])
		if n > 0 {
			fw.data("fd", buf[:n])
			take -= int64(n)
			*left -= int64(n)
		}
		if err != nil {
			break
		}
	}
	return ""
}

// openBeneath opens root/rel for reading, every element with O_NOFOLLOW: a symlink
// anywhere on the way is ELOOP (the last element) or ENOTDIR (O_DIRECTORY on the way).
func openBeneath(root, rel string) (*os.File, error) {
	dirfd, err := syscall.Open(root, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	elems := strings.Split(rel, "/")
	for _, elem := range elems[:len(elems)-1] {
		next, err := syscall.Openat(dirfd, elem,
			syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
		syscall.Close(dirfd)
		if err != nil {
			if err == syscall.ELOOP {
				err = syscall.ENOTDIR
			}
			return nil, err
		}
		dirfd = next
	}
	fd, err := syscall.Openat(dirfd, elems[len(elems)-1],
		syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	syscall.Close(dirfd)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), filepath.Join(root, rel)), nil
}

func minInt64(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}
