package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// SendJournal is command.SendJournal on the local disk: an empty file per
// upload being sent, in a directory of this process's own,
//
//	sending/<instance>/<id>
//
// (processes that share a data directory keep out of each other's uploads).
// It survives the process being killed, which is what it is for; no fsync:
// after a power cut the stalled-upload sweep is the fallback.
type SendJournal struct {
	dir  string
	left []string
}

// OpenSendJournal opens the journal of instance under dataDir (creating its
// directory) and reads what earlier runs left in it.
func OpenSendJournal(dataDir, instance string) (*SendJournal, error) {
	if instance == "" || instance != filepath.Base(instance) || instance == "." || instance == ".." {
		return nil, fmt.Errorf("send journal: instance %q cannot name a directory", instance)
	}
	j := &SendJournal{dir: filepath.Join(dataDir, "sending", instance)}
	if err := os.MkdirAll(j.dir, 0o750); err != nil {
		return nil, fmt.Errorf("send journal: %w", err)
	}
	entries, err := os.ReadDir(j.dir)
	if err != nil {
		return nil, fmt.Errorf("send journal: %w", err)
	}
	for _, e := range entries {
		if checkID(e.Name()) == nil {
			j.left = append(j.left, e.Name())
		}
	}
	return j, nil
}

// Begin implements command.SendJournal.
func (j *SendJournal) Begin(id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(j.dir, id), os.O_CREATE|os.O_WRONLY, 0o640)
	if err != nil {
		return wrap(err)
	}
	return f.Close()
}

// End implements command.SendJournal; an upload not in the journal is not
// an error.
func (j *SendJournal) End(id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(j.dir, id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return wrap(err)
	}
	return nil
}

// Left implements command.SendJournal.
func (j *SendJournal) Left() []string { return slices.Clone(j.left) }
