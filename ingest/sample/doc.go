// Package sample generates realistic sample records — a manifest and the
// document photos and selfies it refers to — for `idbatch demo` and for tests.
// Everything is drawn in memory from a seed: no files, no network, no
// personal data (the people are fictional combinations of common names).
//
//	set := sample.Generate(sample.DefaultOptions()) // 60 records, 8 deliberately broken
//	for _, o := range set.Objects { put(o.Key, o.Body, o.ContentType) }
//	put("manifests/customers.csv", set.ManifestCSV())
//
// # Records
//
// Client ids are unique and look like "cust-000123"; objects are keyed
// "customers/<client_id>/front.jpg", "back.jpg" (or ".png") and "face.jpg".
// Countries are LT, LV, EE, PL, DE, FR, ES, IT, NL and GB, weighted towards the
// Baltics, each with the document types it issues (no ID cards in GB).
// Passports have no back; ID cards, driving licences and residence permits
// do. Residence permits are held by foreign nationals. The manifest has the
// columns client_id, first_name, last_name, date_of_birth, country,
// document_type, front, back, face and segment ("retail" or "business", a
// column idbatch does not know, to exercise the extra columns). Names keep
// their diacritics (Žukauskaitė, Wiśniewska, Müller) and some have two given
// names or a two-part surname.
//
// # Images
//
// Document fronts and backs are card-like: a gradient with guilloche lines
// and a rosette, the EU emblem with the country code (a crest for GB), the
// state and document names in the local language and in English, a portrait
// (laser-engraved grey on some countries' cards) with a ghost image, printed
// fields in the Go fonts, a signature, a hologram, "SPECIMEN". Passports carry
// a TD3 machine readable zone on the data page, ID cards and residence
// permits a TD1 zone on the back, with real ICAO 9303 check digits; backs
// have an address block and a PDF417-like barcode, licence backs the
// category table. National numbers carry their real check digits where the
// scheme is simple (LT/EE personal codes, PESEL, DNI, the DVLA licence number).
// The selfie shows the same person as the portrait (skin, hair, eyes,
// glasses, beard), larger, in a room, with light fall-off and grain.
//
// Scans are 1000×630 (ID-1 cards) or 1000×700 (passport pages), selfies
// 720×960. Two records in 60 (none in sets under 20) have a front
// photographed by a phone: 3000×2000, the document turned a few degrees on
// a table, with a shadow and uneven light. Most images are JPEG (quality
// 85-92); about 1 scan in 10 is a PNG. About 1 JPEG in 6 carries an EXIF
// orientation (6 or 8, sometimes 3): its pixels are stored turned and a
// minimal APP1 Exif segment (TIFF header, IFD0 with only Orientation, in
// either byte order) follows SOI, so a viewer that honours EXIF shows it
// upright and a pipeline that ignores it sees it sideways.
//
// # Broken records
//
// With Options.Broken (DefaultOptions sets it), one record of each kind in
// BrokenKinds — at least one each, about 8% of a large set, at most half of a
// small one — has exactly one fault and is otherwise valid, and its
// Sample.ExpectReject names the pipeline.Reject* code it must end with:
// missing_object (the front key is in the manifest, the object does not
// exist), empty_object, not_an_image (a text file named .jpg and stored as
// image/jpeg), corrupt_image (a JPEG cut off after its headers), too_small
// (a valid 120×80 JPEG), bad_country ("XX"), missing_required_side (an ID
// card without a back) and bad_client_id (empty). Every other record must
// pass all local checks: ExpectReject is "".
//
// # Determinism and cost
//
// The same Options give the same set: each record is drawn from its own
// generator seeded with (Seed, index), so records are rendered on GOMAXPROCS
// goroutines without changing the result. Image bytes are reproducible on one
// platform; floating point may differ across CPU architectures, the manifest
// does not. Generating the 60 demo records takes a few seconds of one core
// (see BenchmarkGenerate60), mostly in the standard library's JPEG encoder.
package sample
