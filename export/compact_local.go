package export

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"

	"github.com/idbatch/idbatch/objstore"
)

// swapPartition fills the staging directory j.Staging with hard links to
// the files of the partition that are not merged, then exchanges it with
// the partition directory atomically. Files that appear in the partition
// while it is being swapped (an export committing) are moved back.
func swapPartition(d *objstore.Local, j compactJournal) error {
	part := d.Location(j.Partition)
	staging := d.Location(j.Staging)
	entries, err := os.ReadDir(part)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	known := map[string]bool{path.Base(j.Target): true}
	for _, e := range entries {
		if e.IsDir() || e.Name()[0] == '.' {
			continue
		}
		rel := j.Partition + "/" + e.Name()
		known[e.Name()] = true
		if slices.Contains(j.Sources, rel) {
			continue
		}
		if err := os.Link(filepath.Join(part, e.Name()), filepath.Join(staging, e.Name())); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	if err := exchange(staging, part); err != nil {
		return fmt.Errorf("export: swap %s: %w", j.Partition, err)
	}
	objstore.SyncDir(filepath.Dir(part))
	// A file committed into the old directory between the listing and the
	// exchange is moved into the new one.
	moved, err := os.ReadDir(staging)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	for _, e := range moved {
		if e.IsDir() || e.Name()[0] == '.' || known[e.Name()] {
			continue
		}
		if err := os.Rename(filepath.Join(staging, e.Name()), filepath.Join(part, e.Name())); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	return nil
}
