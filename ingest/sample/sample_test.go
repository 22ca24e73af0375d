package sample_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idbatch/idbatch/ingest/sample"
	"github.com/idbatch/idbatch/pipeline"
)

// One set shared by the tests that only read it: generating is the slow part.
var (
	sharedOnce sync.Once
	shared     sample.Set
)

const sharedN = 16 // room for one record of each broken kind and as many good ones

func sharedSet(t testing.TB) sample.Set {
	t.Helper()
	sharedOnce.Do(func() { shared = sample.Generate(sample.Options{N: sharedN, Seed: 42, Broken: true}) })
	return shared
}

func objects(set sample.Set) map[string]sample.Object {
	m := make(map[string]sample.Object, len(set.Objects))
	for _, o := range set.Objects {
		m[o.Key] = o
	}
	return m
}

func digest(set sample.Set) [32]byte {
	h := sha256.New()
	h.Write(set.ManifestCSV())
	h.Write(set.ManifestJSONL())
	for _, o := range set.Objects {
		h.Write([]byte(o.Key + "\x00" + o.ContentType + "\x00"))
		h.Write(o.Body)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

func TestGenerateIsDeterministic(t *testing.T) {
	opts := sample.Options{N: 3, Seed: 7, Broken: true}
	a := sample.Generate(opts)
	b := sample.Generate(opts)
	if digest(a) != digest(b) {
		t.Fatal("two sets generated with the same options differ")
	}
	// Records are drawn in parallel; the result must not depend on it.
	prev := runtime.GOMAXPROCS(1)
	c := sample.Generate(opts)
	runtime.GOMAXPROCS(prev)
	if digest(a) != digest(c) {
		t.Fatal("the set depends on GOMAXPROCS")
	}
	d := sample.Generate(sample.Options{N: 1, Seed: 8, Broken: true})
	if digest(a) == digest(d) {
		t.Fatal("different seeds gave the same set")
	}
}

func TestDefaultOptions(t *testing.T) {
	o := sample.DefaultOptions()
	if o.N != 60 || !o.Broken {
		t.Fatalf("DefaultOptions() = %+v, want N=60 with broken records", o)
	}
}

func TestEveryGoodObjectDecodes(t *testing.T) {
	set := sharedSet(t)
	objs := objects(set)
	brokenFront := map[string]bool{
		pipeline.RejectMissingObject: true, pipeline.RejectEmptyObject: true,
		pipeline.RejectNotAnImage: true, pipeline.RejectCorruptImage: true, pipeline.RejectTooSmall: true,
	}
	var good []sample.Object
	for _, s := range set.Samples {
		for _, side := range []struct {
			name, key string
		}{{"front", s.Front}, {"back", s.Back}, {"face", s.Face}} {
			if side.key == "" || side.name == "front" && brokenFront[s.ExpectReject] {
				continue
			}
			o, ok := objs[side.key]
			if !ok {
				t.Errorf("%s: %s %q is in the manifest but not generated", s.ClientID, side.name, side.key)
				continue
			}
			good = append(good, o)
		}
	}
	if len(good) < 2*sharedN {
		t.Fatalf("only %d good objects", len(good))
	}
	// Decoding is the slow part (more so under -race): one goroutine per CPU.
	errs := make([]string, len(good))
	var wg sync.WaitGroup
	var next sync.Mutex
	i := 0
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				next.Lock()
				k := i
				i++
				next.Unlock()
				if k >= len(good) {
					return
				}
				errs[k] = checkDecodes(good[k])
			}
		})
	}
	wg.Wait()
	for _, e := range errs {
		if e != "" {
			t.Error(e)
		}
	}
}

func checkDecodes(o sample.Object) string {
	img, format, err := image.Decode(bytes.NewReader(o.Body))
	if err != nil {
		return fmt.Sprintf("%s does not decode: %v", o.Key, err)
	}
	if want := "image/" + format; o.ContentType != want {
		return fmt.Sprintf("%s: content type %q, decoded as %s", o.Key, o.ContentType, format)
	}
	if ext := map[string]string{"jpeg": ".jpg", "png": ".png"}[format]; !strings.HasSuffix(o.Key, ext) {
		return fmt.Sprintf("%s: a %s named %q", o.Key, format, o.Key)
	}
	b := img.Bounds()
	if min(b.Dx(), b.Dy()) < 300 {
		return fmt.Sprintf("%s: %v is below the 300 px minimum side", o.Key, b.Size())
	}
	if b.Dx()*b.Dy() > 3000*2000 {
		return fmt.Sprintf("%s: %v is larger than a phone photo", o.Key, b.Size())
	}
	return ""
}

func TestSizes(t *testing.T) {
	set := sharedSet(t)
	objs := objects(set)
	sizes := map[image.Point]int{}
	for _, s := range set.Samples {
		for _, key := range []string{s.Front, s.Back, s.Face} {
			o, ok := objs[key]
			if !ok {
				continue
			}
			cfg, _, err := image.DecodeConfig(bytes.NewReader(o.Body))
			if err != nil {
				continue
			}
			p := image.Pt(cfg.Width, cfg.Height)
			if p.X < p.Y { // count rotated storage with its upright size
				p = image.Pt(p.Y, p.X)
			}
			sizes[p]++
		}
	}
	for _, want := range []image.Point{{1000, 630}, {960, 720}} {
		if sizes[want] == 0 {
			t.Errorf("no image of %v (or rotated) in %v", want, sizes)
		}
	}
}

// exifOrientation reads the Orientation tag from an APP1 Exif segment that
// directly follows SOI; ok is false when there is none.
func exifOrientation(t *testing.T, b []byte) (o int, ok bool) {
	t.Helper()
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 || b[2] != 0xFF || b[3] != 0xE1 {
		return 0, false
	}
	n := int(binary.BigEndian.Uint16(b[4:]))
	seg := b[6 : 4+n]
	if string(seg[:6]) != "Exif\x00\x00" {
		t.Fatalf("APP1 without the Exif header: %q", seg[:6])
	}
	tiff := seg[6:]
	var bo binary.ByteOrder
	switch string(tiff[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		t.Fatalf("bad TIFF byte order %q", tiff[:2])
	}
	if bo.Uint16(tiff[2:]) != 42 {
		t.Fatal("bad TIFF magic")
	}
	ifd := int(bo.Uint32(tiff[4:]))
	entries := int(bo.Uint16(tiff[ifd:]))
	for k := range entries {
		e := tiff[ifd+2+12*k:]
		if bo.Uint16(e) == 0x0112 {
			if typ, count := bo.Uint16(e[2:]), bo.Uint32(e[4:]); typ != 3 || count != 1 {
				t.Fatalf("Orientation entry has type %d count %d", typ, count)
			}
			return int(bo.Uint16(e[8:])), true
		}
	}
	t.Fatal("Exif IFD0 without an Orientation entry")
	return 0, false
}

func TestExifOrientedJPEGs(t *testing.T) {
	set := sharedSet(t)
	jpegs, tagged := 0, 0
	for _, s := range set.Samples {
		if s.ExpectReject != "" && s.ExpectReject != pipeline.RejectBadCountry && s.ExpectReject != pipeline.RejectBadClientID && s.ExpectReject != pipeline.RejectMissingRequiredSide {
			continue
		}
		objs := objects(set)
		for _, key := range []string{s.Front, s.Back, s.Face} {
			o, ok := objs[key]
			if !ok || o.ContentType != "image/jpeg" {
				continue
			}
			jpegs++
			orient, ok := exifOrientation(t, o.Body)
			if !ok {
				continue
			}
			tagged++
			if orient != 3 && orient != 6 && orient != 8 {
				t.Errorf("%s: orientation %d", key, orient)
			}
			cfg, _, err := image.DecodeConfig(bytes.NewReader(o.Body))
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			if _, _, err := image.Decode(bytes.NewReader(o.Body)); err != nil {
				t.Fatalf("%s: tagged JPEG does not decode: %v", key, err)
			}
			// Documents are landscape and selfies portrait when upright; with
			// 6 or 8 the stored pixels are turned a quarter.
			uprightLandscape := !strings.HasSuffix(key, "/face.jpg")
			storedLandscape := cfg.Width > cfg.Height
			quarter := orient == 6 || orient == 8
			if storedLandscape != (uprightLandscape != quarter) {
				t.Errorf("%s: orientation %d but stored %dx%d", key, orient, cfg.Width, cfg.Height)
			}
		}
	}
	if tagged == 0 || tagged*2 > jpegs {
		t.Fatalf("%d of %d JPEGs carry an EXIF orientation; want about 1 in 6", tagged, jpegs)
	}
}

func TestBrokenRecords(t *testing.T) {
	set := sharedSet(t)
	objs := objects(set)
	got := set.ExpectedRejects()
	for _, kind := range sample.BrokenKinds {
		if got[kind] != 1 {
			t.Errorf("%d records expect %s, want 1", got[kind], kind)
		}
	}
	if len(got) != len(sample.BrokenKinds) {
		t.Errorf("unexpected reject kinds: %v", got)
	}
	for _, s := range set.Samples {
		front, hasFront := objs[s.Front]
		switch s.ExpectReject {
		case pipeline.RejectMissingObject:
			if s.Front == "" || hasFront {
				t.Errorf("missing_object: front %q exists=%v", s.Front, hasFront)
			}
		case pipeline.RejectEmptyObject:
			if !hasFront || len(front.Body) != 0 {
				t.Errorf("empty_object: front %q has %d bytes", s.Front, len(front.Body))
			}
		case pipeline.RejectNotAnImage:
			if _, _, err := image.DecodeConfig(bytes.NewReader(front.Body)); err == nil || !strings.HasSuffix(s.Front, ".jpg") || len(front.Body) == 0 {
				t.Errorf("not_an_image: %q decodes or is not a non-empty .jpg", s.Front)
			}
		case pipeline.RejectCorruptImage:
			if !bytes.HasPrefix(front.Body, []byte{0xFF, 0xD8, 0xFF}) {
				t.Errorf("corrupt_image: %q is not a JPEG at all", s.Front)
			}
			if _, _, err := image.DecodeConfig(bytes.NewReader(front.Body)); err != nil {
				t.Errorf("corrupt_image: header should be intact: %v", err)
			}
			if _, _, err := image.Decode(bytes.NewReader(front.Body)); err == nil {
				t.Errorf("corrupt_image: %q decodes", s.Front)
			}
		case pipeline.RejectTooSmall:
			cfg, format, err := image.DecodeConfig(bytes.NewReader(front.Body))
			if err != nil || format != "jpeg" || cfg.Width != 120 || cfg.Height != 80 {
				t.Errorf("too_small: %dx%d %s %v, want a 120x80 JPEG", cfg.Width, cfg.Height, format, err)
			}
		case pipeline.RejectBadCountry:
			if s.Country != "XX" {
				t.Errorf("bad_country: country %q", s.Country)
			}
		case pipeline.RejectMissingRequiredSide:
			if s.DocumentType != sample.IDCard || s.Back != "" {
				t.Errorf("missing_required_side: %s with back %q", s.DocumentType, s.Back)
			}
		case pipeline.RejectBadClientID:
			if s.ClientID != "" {
				t.Errorf("bad_client_id: client id %q", s.ClientID)
			}
		}
	}
}

func TestRecordsAreValid(t *testing.T) {
	set := sharedSet(t)
	countries := map[string]bool{"LT": true, "LV": true, "EE": true, "PL": true, "DE": true, "FR": true, "ES": true, "IT": true, "NL": true, "GB": true}
	idRE := regexp.MustCompile(`^cust-\d{6}$`)
	seen := map[string]bool{}
	for _, s := range set.Samples {
		if s.ExpectReject != pipeline.RejectBadClientID {
			if !idRE.MatchString(s.ClientID) || seen[s.ClientID] {
				t.Errorf("client id %q is malformed or repeated", s.ClientID)
			}
			seen[s.ClientID] = true
		}
		if s.ExpectReject != pipeline.RejectBadCountry && !countries[s.Country] {
			t.Errorf("%s: country %q", s.ClientID, s.Country)
		}
		if _, err := time.Parse("2006-01-02", s.DateOfBirth); err != nil {
			t.Errorf("%s: date of birth %q", s.ClientID, s.DateOfBirth)
		}
		if s.FirstName == "" || s.LastName == "" || s.Front == "" || s.Face == "" {
			t.Errorf("%s: incomplete %+v", s.ClientID, s)
		}
		switch s.DocumentType {
		case sample.Passport:
			if s.Back != "" {
				t.Errorf("%s: a passport with a back", s.ClientID)
			}
		case sample.IDCard, sample.DriverLicense, sample.ResidencePermit:
			if (s.Back == "") != (s.ExpectReject == pipeline.RejectMissingRequiredSide) {
				t.Errorf("%s: %s with back %q", s.ClientID, s.DocumentType, s.Back)
			}
		default:
			t.Errorf("%s: document type %q", s.ClientID, s.DocumentType)
		}
		if s.Segment != "retail" && s.Segment != "business" {
			t.Errorf("%s: segment %q", s.ClientID, s.Segment)
		}
	}
}

func TestManifests(t *testing.T) {
	set := sharedSet(t)
	raw := set.ManifestCSV()
	if n := bytes.Count(raw, []byte("\n")); n != sharedN+1 {
		t.Fatalf("CSV has %d lines, want %d", n, sharedN+1)
	}
	rows, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := "client_id,first_name,last_name,date_of_birth,country,document_type,front,back,face,segment"
	if got := strings.Join(rows[0], ","); got != want {
		t.Fatalf("header %q, want %q", got, want)
	}
	if len(rows) != sharedN+1 {
		t.Fatalf("CSV has %d records, want %d", len(rows), sharedN+1)
	}
	for i, s := range set.Samples {
		r := rows[i+1]
		if r[0] != s.ClientID || r[1] != s.FirstName || r[2] != s.LastName || r[6] != s.Front || r[7] != s.Back || r[9] != s.Segment {
			t.Errorf("row %d = %q does not match %+v", i+1, r, s)
		}
	}

	lines := strings.Split(strings.TrimSuffix(string(set.ManifestJSONL()), "\n"), "\n")
	if len(lines) != sharedN {
		t.Fatalf("JSONL has %d lines, want %d", len(lines), sharedN)
	}
	for i, l := range lines {
		var m map[string]string
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		for j, k := range rows[0] {
			if v, ok := m[k]; !ok || v != rows[i+1][j] {
				t.Errorf("line %d: %s = %q, CSV has %q", i+1, k, v, rows[i+1][j])
			}
		}
	}
}

// BenchmarkGenerate60 measures the demo set. Generating 60 records should take
// well under 5 s of CPU; run with -cpu 1 to see the single-core time.
func BenchmarkGenerate60(b *testing.B) {
	for b.Loop() {
		sample.Generate(sample.DefaultOptions())
	}
}
