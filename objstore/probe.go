package objstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/smithy-go"
)

// ProbePrefix is the directory, under a destination's root, of the objects
// Probe writes. Nothing else is ever written there, and no reader of the
// exports looks there (they read job=<job>/ and _runs/).
const ProbePrefix = "_probe"

// Probe steps, as ProbeError.Step names them.
const (
	ProbeWrite    = "write"
	ProbeReadBack = "read back"
	ProbeDelete   = "delete"
)

// probeCleanupTimeout bounds the delete of a probe after a failed step.
const probeCleanupTimeout = 10 * time.Second

// ProbeError is a failed step of Probe.
type ProbeError struct {
	Step     string // ProbeWrite, ProbeReadBack or ProbeDelete
	Location string // the probe object: a local path or an s3:// URI
	Err      error
}

// Error reads "cannot write s3://bucket/prefix/_probe/…: AccessDenied:
// Access Denied": the step, where, and the cause without the SDK's
// operation and request-id noise (errors.As still finds the full error).
func (e *ProbeError) Error() string {
	return "cannot " + e.Step + " " + e.Location + ": " + shortCause(e.Err)
}

func (e *ProbeError) Unwrap() error { return e.Err }

// Probe checks that d can be written: it writes a small object at
// _probe/<random>, reads it back, deletes it and checks that it is gone,
// exactly as an export writes its files (Create, Write, Commit). It
// returns the probe's location, and a *ProbeError naming the step that
// failed. After a failed step it still tries to delete the probe. On a
// local destination it also removes the directories it had to create (the
// root, if it did not exist yet, and _probe), so a probe leaves nothing
// behind; on S3 a delete leaves nothing by nature. Messages carry
// locations and error codes, never credentials.
func Probe(ctx context.Context, d Dest) (string, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	rel := ProbePrefix + "/" + hex.EncodeToString(b[:])
	loc := d.Location(rel)
	content := fmt.Appendf(nil, "idbatch destination probe %s\n", time.Now().UTC().Format(time.RFC3339Nano))

	if l, ok := d.(*Local); ok {
		defer l.removeCreatedDirs(l.missingDirs(rel))
	}
	fail := func(step string, err error) (string, error) {
		if step != ProbeDelete {
			// Best effort, even when ctx has ended, but bounded.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), probeCleanupTimeout)
			_ = d.Delete(cctx, rel)
			cancel()
		}
		return loc, &ProbeError{Step: step, Location: loc, Err: err}
	}

	f, err := d.Create(ctx, rel)
	if err != nil {
		return fail(ProbeWrite, err)
	}
	if _, err := f.Write(content); err != nil {
		_ = f.Abort()
		return fail(ProbeWrite, err)
	}
	if err := f.Commit(); err != nil {
		return fail(ProbeWrite, err)
	}
	got, err := d.ReadFile(ctx, rel)
	if err != nil {
		return fail(ProbeReadBack, err)
	}
	if !bytes.Equal(got, content) {
		return fail(ProbeReadBack, fmt.Errorf("read %d bytes that differ from the %d written", len(got), len(content)))
	}
	if err := d.Delete(ctx, rel); err != nil {
		return fail(ProbeDelete, err)
	}
	if _, err := d.Stat(ctx, rel); !errors.Is(err, ErrNotExist) {
		if err == nil {
			err = errors.New("still there after a successful delete")
		}
		return fail(ProbeDelete, err)
	}
	return loc, nil
}

// missingDirs returns the directories down to rel's directory that do not
// exist yet (Create makes them all, the root's parents included),
// outermost first.
func (d *Local) missingDirs(rel string) []string {
	var missing []string
	for dir := filepath.Dir(d.Location(rel)); ; dir = filepath.Dir(dir) {
		if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
			break
		}
		missing = append([]string{dir}, missing...)
		if filepath.Dir(dir) == dir {
			break
		}
	}
	return missing
}

// removeCreatedDirs removes dirs (outermost first), innermost first, when
// empty: what a probe created and no one else wrote into meanwhile.
func (d *Local) removeCreatedDirs(dirs []string) {
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Remove(dirs[i]) // fails, harmlessly, when not empty
	}
}

// shortCause returns the useful part of a destination error: "Code:
// message" of an S3 API error, the system error of a file operation
// ("permission denied", "not a directory") with its path, or the message.
func shortCause(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		if msg := ae.ErrorMessage(); msg != "" && msg != ae.ErrorCode() {
			return ae.ErrorCode() + ": " + msg
		}
		return ae.ErrorCode()
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Op + " " + pe.Path + ": " + pe.Err.Error()
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Op + " " + le.New + ": " + le.Err.Error()
	}
	return err.Error()
}
