// Command rss measures what normalization costs a process: peak resident
// memory (VmHWM, read from /proc/self/status in a fresh child process per
// measurement) at any concurrency on 24-megapixel photos, per worker on 12
// MP photos, and throughput on a realistic mix of inputs.
//
//	go run ./rss            # from ingest/bench; Linux only
//
// Inputs are synthetic (ingest/ingesttest), written to a temporary
// directory that is removed at the end.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/idbatch/idbatch/ingest"
	"github.com/idbatch/idbatch/ingest/ingesttest"
	"github.com/idbatch/idbatch/pipeline"
)

func main() {
	child := flag.Bool("child", false, "internal: run one measurement")
	dir := flag.String("dir", "", "internal: input directory")
	files := flag.String("files", "", "internal: comma-separated inputs, used round-robin, three per record")
	workers := flag.Int("workers", 1, "internal: concurrent Prepare calls")
	records := flag.Int("records", 1, "internal: records to prepare")
	flag.Parse()
	if *child {
		measure(*dir, strings.Split(*files, ","), *workers, *records)
		return
	}
	parent()
}

func parent() {
	dir, err := os.MkdirTemp("", "idbatch-rss-")
	check(err)
	defer os.RemoveAll(dir)
	put := func(name string, data []byte) {
		check(os.WriteFile(filepath.Join(dir, name), data, 0o600))
	}
	fmt.Println("generating inputs…")
	put("p24.jpg", ingesttest.PhotoJPEG(6000, 4000, 6, 1))
	put("p12.jpg", ingesttest.PhotoJPEG(4032, 3024, 6, 2))
	put("small.jpg", ingesttest.PhotoJPEG(1000, 630, 0, 3))
	put("a4.png", ingesttest.ScanPNG(2480, 3508, 4))
	run := func(procs int, args ...string) map[string]string {
		cmd := exec.Command(os.Args[0], append([]string{"-child", "-dir", dir}, args...)...)
		cmd.Env = append(os.Environ(), fmt.Sprintf("GOMAXPROCS=%d", procs))
		out, err := cmd.Output()
		check(err)
		res := map[string]string{}
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), "="); ok {
				res[k] = v
			}
		}
		return res
	}
	fmt.Printf("default MaxBytesInFlight %d MiB\n\n", ingest.DefaultMaxBytesInFlight>>20)
	fmt.Println("peak RSS, 24 MP phone JPEGs (6000x4000, EXIF 6), 2 cores, default options:")
	for _, w := range []int{1, 2, 4, 8, 16, 32} {
		r := run(2, "-files", "p24.jpg", "-workers", fmt.Sprint(w), "-records", fmt.Sprint(max(4, w)))
		fmt.Printf("  concurrency %2d: VmHWM %s MB, %s records in %s s\n", w, r["vmhwm_mb"], r["records"], r["wall_s"])
	}
	fmt.Println("\npeak RSS of one worker, 12 MP phone JPEG (4032x3024, EXIF 6), 1 core:")
	r := run(1, "-files", "p12.jpg", "-workers", "1", "-records", "3")
	fmt.Printf("  VmHWM %s MB\n", r["vmhwm_mb"])
	fmt.Println("\nthroughput, mix of 40% small JPEG (1000x630), 40% 12 MP JPEG, 20% A4 PNG scan (2480x3508), 3 images a record, 2 cores:")
	mix := "small.jpg,p12.jpg,small.jpg,p12.jpg,a4.png"
	r = run(2, "-files", mix, "-workers", "2", "-records", "20")
	fmt.Printf("  %s records: wall %s s, CPU %s s, VmHWM %s MB\n", r["records"], r["wall_s"], r["cpu_s"], r["vmhwm_mb"])
	fmt.Printf("  records/hour on 2 cores: %s by CPU time (2 cores fully ours), %s by wall time on this machine\n", r["rph_cpu"], r["rph_wall"])
	fmt.Println("  the API's default ceiling: 5000 records/hour (10,000 requests/hour, 2 per record)")
}

func measure(dir string, files []string, workers, records int) {
	p := &ingest.Preparer{Objects: &ingest.Objects{BaseDir: dir}}
	recs := make(chan pipeline.Record)
	go func() {
		k := 0
		for i := 0; i < records; i++ {
			src := map[pipeline.Side]string{}
			for _, side := range []pipeline.Side{pipeline.SideFront, pipeline.SideBack, pipeline.SideFace} {
				src[side] = files[k%len(files)]
				k++
			}
			recs <- pipeline.Record{Input: pipeline.Input{ClientID: fmt.Sprint("c", i), Country: "LT", DocumentType: "ID_CARD", Sources: src}}
		}
		close(recs)
	}()
	start, cpu0 := time.Now(), cpuTime()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for rec := range recs {
				if _, err := p.Prepare(context.Background(), rec); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
			}
		})
	}
	wg.Wait()
	wall, cpu := time.Since(start).Seconds(), (cpuTime() - cpu0).Seconds()
	procs := float64(runtime.GOMAXPROCS(0))
	fmt.Printf("records=%d\nwall_s=%.2f\ncpu_s=%.2f\nvmhwm_mb=%d\n", records, wall, cpu, vmHWM()>>20)
	fmt.Printf("rph_cpu=%.0f\nrph_wall=%.0f\n", float64(records)/cpu*procs*3600, float64(records)/wall*3600)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// vmHWM is the peak resident set size of this process, in bytes.
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	check(err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb << 10
		}
	}
	return -1
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "rss:", err)
		os.Exit(1)
	}
}
