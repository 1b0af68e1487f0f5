package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// writeFiles creates every bundle file under workdir. Paths are checked
// lexically (relative, no ".."), and no symlink is ever followed below
// workdir, so a path cannot escape it even if the image ships a symlink there.
func writeFiles(workdir string, files []File) error {
	if err := os.MkdirAll(workdir, 0o755); err != nil {
		return fmt.Errorf("create workdir: %w", err)
	}
	for _, f := range files {
		if err := writeFile(workdir, f); err != nil {
			return fmt.Errorf("file %q: %w", f.Path, err)
		}
	}
	return nil
}

func writeFile(workdir string, f File) error {
	rel, err := cleanRelPath(f.Path)
	if err != nil {
		return err
	}
	data, err := base64.StdEncoding.DecodeString(f.ContentB64)
	if err != nil {
		return fmt.Errorf("content_b64 is not valid base64: %w", err)
	}
	if err := mkdirNoFollow(workdir, filepath.Dir(rel)); err != nil {
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC | syscall.O_NOFOLLOW
	out, err := os.OpenFile(filepath.Join(workdir, rel), flags, 0o644)
	if err != nil {
		return err
	}
	if _, err := out.Write(data); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// mkdirNoFollow creates rel under base one element at a time, refusing any
// existing element that is not a real directory (e.g. a symlink).
func mkdirNoFollow(base, rel string) error {
	if rel == "." {
		return nil
	}
	dir := base
	for _, elem := range strings.Split(rel, "/") {
		dir = filepath.Join(dir, elem)
		info, err := os.Lstat(dir)
		switch {
		case errors.Is(err, os.ErrNotExist):
			if err := os.Mkdir(dir, 0o755); err != nil {
				return err
			}
		case err != nil:
			return err
		case !info.IsDir():
			return fmt.Errorf("%s is not a directory", dir)
		}
	}
	return nil
}

// cleanRelPath accepts only relative slash paths without any ".." element.
func cleanRelPath(p string) (string, error) {
	switch {
	case p == "":
		return "", errors.New("empty path")
	case strings.ContainsRune(p, 0):
		return "", errors.New("path contains NUL")
	case strings.HasPrefix(p, "/"):
		return "", errors.New("absolute path refused")
	}
	for _, elem := range strings.Split(p, "/") {
		if elem == ".." {
			return "", errors.New(`".." refused`)
		}
	}
	clean := filepath.Clean(p)
	if clean == "." {
		return "", errors.New("path names the workdir itself")
	}
	return clean, nil
}
