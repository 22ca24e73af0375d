package objstore_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/idbatch/idbatch/objstore"
	"github.com/idbatch/idbatch/objstore/objstoretest"
)

func TestLocalDestination(t *testing.T) {
	t.Parallel()
	objstoretest.TestDestination(t, func(t *testing.T) objstore.Dest {
		d, err := objstore.Open(t.Context(), filepath.Join(t.TempDir(), "dest"), nil)
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

func TestLocalRemoveStale(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	d, err := objstore.NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	f, err := d.Create(t.Context(), "job=j/dt=1/part.parquet") // never finished: a killed write
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write([]byte("PAR1"))
	keep, err := d.Create(t.Context(), "job=j/dt=1/kept.parquet")
	if err != nil {
		t.Fatal(err)
	}
	if err := keep.Commit(); err != nil {
		t.Fatal(err)
	}
	n, err := d.RemoveStale(t.Context(), "job=j")
	if err != nil || n != 1 {
		t.Fatalf("RemoveStale = %d, %v; want 1 file", n, err)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "job=j", "dt=1"))
	if len(entries) != 1 || entries[0].Name() != "kept.parquet" {
		t.Errorf("left %v", entries)
	}
}
