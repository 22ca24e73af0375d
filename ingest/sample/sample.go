package sample

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/idbatch/idbatch/pipeline"
)

// DefaultN is the number of records generated when Options.N is zero.
const DefaultN = 60

// Options say what to generate.
type Options struct {
	// N is the number of records; 0 means DefaultN.
	N int
	// Seed makes the set reproducible: the same Seed and N give the same set.
	Seed int64
	// Broken includes the deliberately broken records (one of each kind in
	// BrokenKinds, about 8% of a large set). The zero Options has none; use
	// DefaultOptions for the demo set, which has them.
	Broken bool
}

func (o Options) count() int {
	if o.N <= 0 {
		return DefaultN
	}
	return o.N
}

// DefaultOptions is the set `idbatch demo` shows: DefaultN records, seed 1,
// broken records included.
func DefaultOptions() Options { return Options{N: DefaultN, Seed: 1, Broken: true} }

// BrokenKinds lists, in the order they are assigned, the reject codes of the
// broken records: each broken record has exactly one fault and is otherwise
// valid, so that it must end rejected with exactly that code.
//
//	missing_object         the front key is in the manifest, the object does not exist
//	empty_object           the front object is zero bytes
//	not_an_image           the front object is a text file named .jpg
//	corrupt_image          the front object is a JPEG cut off after its headers
//	too_small              the front object is a valid 120×80 JPEG
//	bad_country            country is "XX"; the images are valid
//	missing_required_side  an ID_CARD without a back
//	bad_client_id          client_id is empty; the images are valid
var BrokenKinds = []string{
	pipeline.RejectMissingObject,
	pipeline.RejectEmptyObject,
	pipeline.RejectNotAnImage,
	pipeline.RejectCorruptImage,
	pipeline.RejectTooSmall,
	pipeline.RejectBadCountry,
	pipeline.RejectMissingRequiredSide,
	pipeline.RejectBadClientID,
}

// Object is one object of the sample bucket.
type Object struct {
	Key         string
	Body        []byte
	ContentType string
}

// Sample is one manifest row, and what the pipeline must make of it.
type Sample struct {
	ClientID, FirstName, LastName, DateOfBirth, Country, DocumentType string
	Front, Back, Face                                                 string // object keys, "" when absent
	Segment                                                           string // extra manifest column: "retail" or "business"
	// ExpectReject is the pipeline.Reject* code this record must end with, or
	// "" if it must pass every local check and be submitted.
	ExpectReject string
}

// Set is a generated manifest and the objects it refers to.
type Set struct {
	Samples []Sample
	Objects []Object
}

// ManifestHeader is the header of ManifestCSV; "segment" is not a manifest
// column idbatch knows, so it exercises the extra columns.
var ManifestHeader = []string{"client_id", "first_name", "last_name", "date_of_birth", "country", "document_type", "front", "back", "face", "segment"}

func (s Sample) row() []string {
	return []string{s.ClientID, s.FirstName, s.LastName, s.DateOfBirth, s.Country, s.DocumentType, s.Front, s.Back, s.Face, s.Segment}
}

// ManifestCSV returns the manifest as CSV with a header line: N+1 lines.
func (s Set) ManifestCSV() []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(ManifestHeader) // writes to memory cannot fail
	for _, smp := range s.Samples {
		_ = w.Write(smp.row())
	}
	w.Flush()
	return buf.Bytes()
}

// ManifestJSONL returns the manifest as JSON lines with the same keys as the
// CSV header, every key present (empty string when absent).
func (s Set) ManifestJSONL() []byte {
	var buf bytes.Buffer
	for _, smp := range s.Samples {
		line := struct {
			ClientID     string `json:"client_id"`
			FirstName    string `json:"first_name"`
			LastName     string `json:"last_name"`
			DateOfBirth  string `json:"date_of_birth"`
			Country      string `json:"country"`
			DocumentType string `json:"document_type"`
			Front        string `json:"front"`
			Back         string `json:"back"`
			Face         string `json:"face"`
			Segment      string `json:"segment"`
		}{smp.ClientID, smp.FirstName, smp.LastName, smp.DateOfBirth, smp.Country, smp.DocumentType, smp.Front, smp.Back, smp.Face, smp.Segment}
		b, _ := json.Marshal(line) // plain strings cannot fail
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

// ExpectedRejects counts the samples by ExpectReject code ("" excluded).
func (s Set) ExpectedRejects() map[string]int {
	m := map[string]int{}
	for _, smp := range s.Samples {
		if smp.ExpectReject != "" {
			m[smp.ExpectReject]++
		}
	}
	return m
}

// Object returns the object with the given key.
func (s Set) Object(key string) (Object, bool) {
	for _, o := range s.Objects {
		if o.Key == key {
			return o, true
		}
	}
	return Object{}, false
}

// Generate builds a sample set. It is deterministic: the same Options give
// the same manifest and the same bytes on the same platform. Records are
// rendered on GOMAXPROCS goroutines; each depends only on the seed and its
// position, so the result does not depend on scheduling.
func Generate(opts Options) Set {
	n := opts.count()
	jobs := plan(n, opts)
	results := make([]recordOut, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Go(func() {
			k := newKit()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				results[i] = k.record(jobs[i])
			}
		})
	}
	wg.Wait()
	var set Set
	for _, r := range results {
		set.Samples = append(set.Samples, r.sample)
		set.Objects = append(set.Objects, r.objects...)
	}
	return set
}

// job is what the set decides about one record before it is drawn.
type job struct {
	seed     int64
	index    int
	clientID string
	defect   string // the pipeline.Reject* code it is built to fail with
	phone    bool   // photographed on a table rather than scanned
	segment  string
}

// plan decides client ids, segments, which records are broken and which are
// phone photos, from the seed alone.
func plan(n int, opts Options) []job {
	sr := rand.New(rand.NewPCG(uint64(opts.Seed), 0x6964626174636821))
	jobs := make([]job, n)
	if opts.Broken {
		nb := min(max(len(BrokenKinds), (n*8+50)/100), n/2)
		for k, i := range sr.Perm(n)[:nb] {
			jobs[i].defect = BrokenKinds[k%len(BrokenKinds)]
		}
	}
	// A few records (1 in 30, none in sets under 20) are phone photos of the
	// document on a table, 3000×2000.
	left := 0
	if n >= 20 {
		left = max(1, (n+15)/30)
	}
	for _, i := range sr.Perm(n) {
		if left == 0 {
			break
		}
		switch jobs[i].defect {
		case "", pipeline.RejectBadCountry, pipeline.RejectBadClientID:
			jobs[i].phone = true // the front only: re-captured later with a phone
			left--
		}
	}
	id := 100 + sr.IntN(400)
	for i := range jobs {
		id += 1 + sr.IntN(40)
		jobs[i].seed, jobs[i].index = opts.Seed, i
		jobs[i].clientID = fmt.Sprintf("cust-%06d", id)
		jobs[i].segment = "retail"
		if sr.IntN(5) == 0 {
			jobs[i].segment = "business"
		}
	}
	return jobs
}

type recordOut struct {
	sample  Sample
	objects []Object
}

// countryWeights favours the Baltics, where the customers of the fictional
// legacy system mostly live.
var countryWeights = []struct {
	code string
	w    int
}{{"LT", 4}, {"LV", 2}, {"EE", 2}, {"PL", 2}, {"DE", 2}, {"FR", 1}, {"ES", 1}, {"IT", 1}, {"NL", 1}, {"GB", 1}}

func pickCountry(r *rand.Rand) *country {
	total := 0
	for _, cw := range countryWeights {
		total += cw.w
	}
	k := r.IntN(total)
	for _, cw := range countryWeights {
		if k < cw.w {
			return countryByCode(cw.code)
		}
		k -= cw.w
	}
	return &countries[0]
}

func coverColour(c *country) rgb {
	switch c.code {
	case "GB":
		return hex(0x1D2540)
	case "DE", "PL":
		return hex(0x5E1A26)
	}
	return hex(0x6B1E2C)
}

func (o *recordOut) add(key string, body []byte, ct string) string {
	o.objects = append(o.objects, Object{Key: key, Body: body, ContentType: ct})
	return key
}

// image encodes an upright picture as a JPEG (sometimes with an EXIF
// orientation and the pixels stored rotated) or, when png, as a PNG, and
// returns its key.
func (o *recordOut) image(r *rand.Rand, key string, img *image.RGBA, png, mayRotate bool) string {
	if png {
		return o.add(key+".png", encodePNG(img), "image/png")
	}
	q := 85 + r.IntN(8)
	if mayRotate && r.IntN(6) == 0 {
		or := 6
		switch k := r.IntN(10); {
		case k >= 8:
			or = 3
		case k >= 4:
			or = 8
		}
		body := withExif(encodeJPEG(storeOriented(img, or), q), or, r.IntN(2) == 0)
		return o.add(key+".jpg", body, "image/jpeg")
	}
	return o.add(key+".jpg", encodeJPEG(img, q), "image/jpeg")
}

// record draws one record: the person, the document, the selfie and, for a
// broken record, its one fault.
func (k *kit) record(j job) recordOut {
	r := rand.New(rand.NewPCG(uint64(j.seed), uint64(j.index)+1))
	var out recordOut
	c := pickCountry(r)
	docType := pick(r, c.docTypes)
	if j.defect == pipeline.RejectMissingRequiredSide && docType != IDCard {
		if c.code == "GB" {
			c = countryByCode("LT")
		}
		docType = IDCard
	}
	per := newPerson(r, c, docType)
	lk := newLook(r, per)
	smp := Sample{
		ClientID: j.clientID, FirstName: per.first, LastName: per.last,
		DateOfBirth: per.dob.Format("2006-01-02"), Country: c.code, DocumentType: docType,
		Segment: j.segment, ExpectReject: j.defect,
	}
	prefix := "customers/" + j.clientID + "/"
	switch j.defect {
	case pipeline.RejectBadClientID:
		smp.ClientID = ""
		prefix = fmt.Sprintf("customers/unassigned-%04d/", j.index)
	case pipeline.RejectBadCountry:
		smp.Country = "XX"
	}
	scanPNG := !j.phone && r.IntN(10) == 0
	side := func(front bool) *image.RGBA {
		render := renderBack
		if front {
			render = renderFront
		}
		if j.phone && front {
			return phonePhoto(render(k, c, per, lk, r, 1.5, false), 1.37, r, 3000, 2000, coverColour(c), front && docType == Passport)
		}
		return render(k, c, per, lk, r, 1, true)
	}

	// FRONT, or the broken object in its place.
	switch j.defect {
	case pipeline.RejectMissingObject:
		smp.Front = prefix + "front.jpg"
	case pipeline.RejectEmptyObject:
		smp.Front = out.add(prefix+"front.jpg", []byte{}, "image/jpeg")
	case pipeline.RejectNotAnImage:
		body := fmt.Sprintf("Document image for %s was not migrated from the 2019 archive.\r\nTicket: OPS-%d\r\n", prefix, 1000+r.IntN(9000))
		smp.Front = out.add(prefix+"front.jpg", []byte(body), "image/jpeg")
	case pipeline.RejectCorruptImage:
		full := encodeJPEG(side(true), 90)
		smp.Front = out.add(prefix+"front.jpg", full[:len(full)*45/100], "image/jpeg")
	case pipeline.RejectTooSmall:
		thumb := image.NewRGBA(image.Rect(0, 0, 120, 80))
		newPainter(thumb).rect(box{0, 0, 120, 80}, scannerBed, 1)
		over(thumb, renderFront(k, c, per, lk, r, 0.12, false), 0, 2, 1, false)
		smp.Front = out.add(prefix+"front.jpg", encodeJPEG(thumb, 90), "image/jpeg")
	default:
		smp.Front = out.image(r, prefix+"front", side(true), scanPNG, true)
	}
	if hasBack(docType) && j.defect != pipeline.RejectMissingRequiredSide {
		smp.Back = out.image(r, prefix+"back", side(false), scanPNG, true)
	}
	smp.Face = out.image(r, prefix+"face", renderSelfie(r, lk, 720, 960), false, true)
	out.sample = smp
	return out
}
