package sample

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Document types, as the manifest and iDenfy name them.
const (
	IDCard          = "ID_CARD"
	Passport        = "PASSPORT"
	DriverLicense   = "DRIVER_LICENSE"
	ResidencePermit = "RESIDENCE_PERMIT"
)

// hasBack reports whether the generator draws a back side for a document type.
func hasBack(docType string) bool { return docType != Passport }

// nameSet holds the (fictional) people of one nationality: given names by sex
// and surnames as male/female forms where the language inflects them.
type nameSet struct {
	male, female []string
	surnames     [][2]string // {male form, female form}
}

func same(s ...string) [][2]string {
	out := make([][2]string, len(s))
	for i, v := range s {
		out[i] = [2]string{v, v}
	}
	return out
}

// country is everything the generator knows about an issuing country.
type country struct {
	code, alpha3   string
	native, global string            // state name in the local language and in English
	titles         map[string]string // document type → native title
	hue            float64           // base hue of its documents
	ink            float64           // hue of the printed headings
	docTypes       []string          // what it issues, weighted by repetition
	names          nameSet
	cities         []string
	streets        []string
	postcode       string // pattern: # digit, L letter
	authority      string
	numbers        map[string]string // document type → number pattern ("" key: default)
}

var countries = []country{
	{
		code: "LT", alpha3: "LTU", native: "LIETUVOS RESPUBLIKA", global: "REPUBLIC OF LITHUANIA", hue: 20, ink: 215,
		titles:   map[string]string{IDCard: "ASMENS TAPATYBĖS KORTELĖ", Passport: "PASAS", DriverLicense: "VAIRUOTOJO PAŽYMĖJIMAS", ResidencePermit: "LEIDIMAS GYVENTI"},
		docTypes: []string{IDCard, IDCard, IDCard, Passport, Passport, DriverLicense, ResidencePermit},
		names: nameSet{
			male:     []string{"Jonas", "Mantas", "Tomas", "Lukas", "Andrius", "Darius"},
			female:   []string{"Rūta", "Eglė", "Ieva", "Greta", "Aistė", "Jurgita"},
			surnames: [][2]string{{"Kazlauskas", "Kazlauskienė"}, {"Petrauskas", "Petrauskaitė"}, {"Jankauskas", "Jankauskienė"}, {"Žukauskas", "Žukauskaitė"}, {"Stankevičius", "Stankevičiūtė"}, {"Vasiliauskas", "Vasiliauskienė"}},
		},
		cities: []string{"Vilnius", "Kaunas", "Klaipėda"}, streets: []string{"Gedimino pr.", "Laisvės al.", "Žalgirio g."},
		postcode: "LT-0####", authority: "MIGRACIJOS DEPARTAMENTAS",
		numbers: map[string]string{"": "########"},
	},
	{
		code: "LV", alpha3: "LVA", native: "LATVIJAS REPUBLIKA", global: "REPUBLIC OF LATVIA", hue: 350, ink: 345,
		titles:   map[string]string{IDCard: "PERSONAS APLIECĪBA", Passport: "PASE", DriverLicense: "VADĪTĀJA APLIECĪBA", ResidencePermit: "UZTURĒŠANĀS ATĻAUJA"},
		docTypes: []string{IDCard, IDCard, Passport, Passport, DriverLicense, ResidencePermit},
		names: nameSet{
			male:     []string{"Jānis", "Andris", "Mārtiņš", "Edgars", "Kārlis"},
			female:   []string{"Anna", "Laura", "Kristīne", "Ilze", "Līga"},
			surnames: [][2]string{{"Bērziņš", "Bērziņa"}, {"Kalniņš", "Kalniņa"}, {"Ozoliņš", "Ozoliņa"}, {"Liepiņš", "Liepiņa"}, {"Krūmiņš", "Krūmiņa"}},
		},
		cities: []string{"Rīga", "Daugavpils", "Liepāja"}, streets: []string{"Brīvības iela", "Elizabetes iela", "Krišjāņa Barona iela"},
		postcode: "LV-1###", authority: "PMLP",
		numbers: map[string]string{"": "PA#######", Passport: "LV#######", DriverLicense: "AT######"},
	},
	{
		code: "EE", alpha3: "EST", native: "EESTI VABARIIK", global: "REPUBLIC OF ESTONIA", hue: 205, ink: 210,
		titles:   map[string]string{IDCard: "ISIKUTUNNISTUS", Passport: "PASS", DriverLicense: "JUHILUBA", ResidencePermit: "ELAMISLUBA"},
		docTypes: []string{IDCard, IDCard, IDCard, Passport, DriverLicense, ResidencePermit},
		names: nameSet{
			male:     []string{"Rasmus", "Martin", "Andres", "Kristjan", "Mihkel"},
			female:   []string{"Kadri", "Liis", "Maarja", "Kertu", "Triin"},
			surnames: same("Tamm", "Saar", "Sepp", "Mägi", "Kask", "Kukk"),
		},
		cities: []string{"Tallinn", "Tartu", "Pärnu"}, streets: []string{"Narva mnt", "Pärnu mnt", "Rüütli tn"},
		postcode: "1####", authority: "POLITSEI- JA PIIRIVALVEAMET",
		numbers: map[string]string{"": "A@#######", Passport: "K#######", DriverLicense: "ET######"},
	},
	{
		code: "PL", alpha3: "POL", native: "RZECZPOSPOLITA POLSKA", global: "REPUBLIC OF POLAND", hue: 0, ink: 355,
		titles:   map[string]string{IDCard: "DOWÓD OSOBISTY", Passport: "PASZPORT", DriverLicense: "PRAWO JAZDY", ResidencePermit: "KARTA POBYTU"},
		docTypes: []string{IDCard, IDCard, IDCard, Passport, DriverLicense, ResidencePermit},
		names: nameSet{
			male:     []string{"Piotr", "Krzysztof", "Tomasz", "Paweł", "Michał"},
			female:   []string{"Anna", "Katarzyna", "Małgorzata", "Agnieszka", "Zofia"},
			surnames: [][2]string{{"Nowak", "Nowak"}, {"Kowalski", "Kowalska"}, {"Wiśniewski", "Wiśniewska"}, {"Wójcik", "Wójcik"}, {"Lewandowski", "Lewandowska"}},
		},
		cities: []string{"Warszawa", "Kraków", "Gdańsk"}, streets: []string{"ul. Marszałkowska", "ul. Długa", "ul. Polna"},
		postcode: "##-###", authority: "PREZYDENT M. ST. WARSZAWY",
		numbers: map[string]string{"": "@@@######", Passport: "@@#######", DriverLicense: "#####/##/####"},
	},
	{
		code: "DE", alpha3: "D<<", native: "BUNDESREPUBLIK DEUTSCHLAND", global: "FEDERAL REPUBLIC OF GERMANY", hue: 95, ink: 230,
		titles:   map[string]string{IDCard: "PERSONALAUSWEIS", Passport: "REISEPASS", DriverLicense: "FÜHRERSCHEIN", ResidencePermit: "AUFENTHALTSTITEL"},
		docTypes: []string{IDCard, IDCard, IDCard, Passport, DriverLicense, DriverLicense, ResidencePermit},
		names: nameSet{
			male:     []string{"Lukas", "Jonas", "Felix", "Maximilian", "Stefan"},
			female:   []string{"Anna", "Lena", "Sophie", "Julia", "Katrin"},
			surnames: same("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Becker", "Krüger"),
		},
		cities: []string{"Berlin", "Köln", "München"}, streets: []string{"Hauptstraße", "Lindenallee", "Schillerstraße"},
		postcode: "#####", authority: "STADT KÖLN",
		numbers: map[string]string{"": "@********", DriverLicense: "B07#@@@#@##"},
	},
	{
		code: "FR", alpha3: "FRA", native: "RÉPUBLIQUE FRANÇAISE", global: "FRENCH REPUBLIC", hue: 225, ink: 225,
		titles:   map[string]string{IDCard: "CARTE NATIONALE D'IDENTITÉ", Passport: "PASSEPORT", DriverLicense: "PERMIS DE CONDUIRE", ResidencePermit: "TITRE DE SÉJOUR"},
		docTypes: []string{IDCard, IDCard, Passport, Passport, DriverLicense, ResidencePermit},
		names: nameSet{
			male:     []string{"Louis", "Hugo", "Julien", "Mathieu", "Antoine"},
			female:   []string{"Camille", "Léa", "Chloé", "Manon", "Élodie"},
			surnames: same("Martin", "Bernard", "Dubois", "Lefèvre", "Moreau", "Girard"),
		},
		cities: []string{"Paris", "Lyon", "Nantes"}, streets: []string{"rue de la Paix", "avenue Victor Hugo", "rue des Lilas"},
		postcode: "#####", authority: "PRÉFECTURE DE POLICE",
		numbers: map[string]string{"": "*********", Passport: "##@@#####", DriverLicense: "############"},
	},
	{
		code: "ES", alpha3: "ESP", native: "REINO DE ESPAÑA", global: "KINGDOM OF SPAIN", hue: 40, ink: 5,
		titles:   map[string]string{IDCard: "DOCUMENTO NACIONAL DE IDENTIDAD", Passport: "PASAPORTE", DriverLicense: "PERMISO DE CONDUCCIÓN", ResidencePermit: "PERMISO DE RESIDENCIA"},
		docTypes: []string{IDCard, IDCard, IDCard, Passport, DriverLicense, ResidencePermit},
		names: nameSet{
			male:     []string{"Javier", "Alejandro", "Pablo", "Sergio"},
			female:   []string{"María", "Lucía", "Carmen", "Paula"},
			surnames: same("García López", "Fernández Ruiz", "Martínez Sánchez", "González Pérez", "Rodríguez Gil"),
		},
		cities: []string{"Madrid", "Valencia", "Sevilla"}, streets: []string{"Calle Mayor", "Calle de Alcalá", "Avenida del Puerto"},
		postcode: "28###", authority: "DIRECCIÓN GENERAL DE LA POLICÍA",
		numbers: map[string]string{"": "@@@######", Passport: "P@#######", DriverLicense: "########@"},
	},
	{
		code: "IT", alpha3: "ITA", native: "REPUBBLICA ITALIANA", global: "ITALIAN REPUBLIC", hue: 150, ink: 150,
		titles:   map[string]string{IDCard: "CARTA DI IDENTITÀ", Passport: "PASSAPORTO", DriverLicense: "PATENTE DI GUIDA", ResidencePermit: "PERMESSO DI SOGGIORNO"},
		docTypes: []string{IDCard, IDCard, Passport, Passport, DriverLicense, ResidencePermit},
		names: nameSet{
			male:     []string{"Marco", "Luca", "Giuseppe", "Alessandro"},
			female:   []string{"Giulia", "Francesca", "Chiara", "Sara"},
			surnames: same("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano"),
		},
		cities: []string{"Roma", "Milano", "Torino"}, streets: []string{"Via Roma", "Via Garibaldi", "Corso Italia"},
		postcode: "00###", authority: "COMUNE DI ROMA",
		numbers: map[string]string{"": "C@#####@@", Passport: "Y@#######", DriverLicense: "U1@######@"},
	},
	{
		code: "NL", alpha3: "NLD", native: "KONINKRIJK DER NEDERLANDEN", global: "KINGDOM OF THE NETHERLANDS", hue: 28, ink: 215,
		titles:   map[string]string{IDCard: "IDENTITEITSKAART", Passport: "PASPOORT", DriverLicense: "RIJBEWIJS", ResidencePermit: "VERBLIJFSDOCUMENT"},
		docTypes: []string{IDCard, IDCard, Passport, Passport, DriverLicense, DriverLicense, ResidencePermit},
		names: nameSet{
			male:     []string{"Daan", "Sem", "Thijs", "Bram"},
			female:   []string{"Emma", "Sanne", "Lotte", "Fleur"},
			surnames: same("de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker"),
		},
		cities: []string{"Amsterdam", "Utrecht", "Rotterdam"}, streets: []string{"Kerkstraat", "Dorpsstraat", "Stationsweg"},
		postcode: "####@@", authority: "BURG. VAN AMSTERDAM",
		numbers: map[string]string{"": "@@******#", DriverLicense: "##########"},
	},
	{
		code: "GB", alpha3: "GBR", native: "", global: "UNITED KINGDOM OF GREAT BRITAIN AND NORTHERN IRELAND", hue: 265, ink: 235,
		titles:   map[string]string{Passport: "PASSPORT", DriverLicense: "DRIVING LICENCE", ResidencePermit: "RESIDENCE PERMIT"},
		docTypes: []string{Passport, Passport, Passport, DriverLicense, DriverLicense, ResidencePermit},
		names: nameSet{
			male:     []string{"Oliver", "James", "Harry", "Thomas"},
			female:   []string{"Amelia", "Olivia", "Charlotte", "Emily"},
			surnames: same("Smith", "Jones", "Taylor", "O'Brien", "Wilson", "Davies"),
		},
		cities: []string{"London", "Leeds", "Bristol"}, streets: []string{"High Street", "Station Road", "Church Lane"},
		postcode: "@@# #@@", authority: "HMPO",
		numbers: map[string]string{"": "#########", ResidencePermit: "Z@#######"},
	},
}

// foreigners hold residence permits: nationality and names.
var foreigners = []struct {
	alpha3, name string
	names        nameSet
}{
	{"UKR", "UKRAINE", nameSet{male: []string{"Oleksandr", "Dmytro", "Andriy"}, female: []string{"Olena", "Iryna", "Kateryna"}, surnames: same("Shevchenko", "Bondarenko", "Kovalenko", "Tkachenko")}},
	{"IND", "INDIA", nameSet{male: []string{"Arjun", "Rohan", "Vikram"}, female: []string{"Priya", "Ananya", "Kavya"}, surnames: same("Sharma", "Patel", "Iyer", "Reddy")}},
	{"TUR", "TÜRKİYE", nameSet{male: []string{"Mehmet", "Emre", "Burak"}, female: []string{"Ayşe", "Zeynep", "Elif"}, surnames: same("Yılmaz", "Kaya", "Demir", "Şahin")}},
}

func countryByCode(code string) *country {
	for i := range countries {
		if countries[i].code == code {
			return &countries[i]
		}
	}
	return nil
}

// person is one fictional customer and the document that identifies them.
type person struct {
	first, last string
	female      bool
	dob         time.Time
	nationality string // alpha-3 as printed (MRZ form)
	natName     string // printed nationality
	birthplace  string

	docType             string
	docNumber           string
	personalCode        string
	issued, expires     time.Time
	street, city, postc string
	permitType          string
	categories          []string // driving licence categories
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// pattern fills a pattern: # digit, @ letter, * letter or digit; anything
// else is literal.
func pattern(r *rand.Rand, p string) string {
	const letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
	const alnum = "CFGHJKLMNPRTVWXYZ0123456789"
	var b strings.Builder
	for _, c := range p {
		switch c {
		case '#':
			b.WriteByte(byte('0' + r.IntN(10)))
		case '@':
			b.WriteByte(letters[r.IntN(len(letters))])
		case '*':
			b.WriteByte(alnum[r.IntN(len(alnum))])
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// newPerson draws a person holding document docType issued by c.
func newPerson(r *rand.Rand, c *country, docType string) person {
	p := person{docType: docType, nationality: c.alpha3}
	names := c.names
	var foreign string
	if docType == ResidencePermit {
		f := pick(r, foreigners)
		names, p.nationality, foreign = f.names, f.alpha3, f.name
	}
	p.natName = strings.TrimRight(p.nationality, "<")
	if docType != ResidencePermit {
		switch c.code {
		case "DE":
			p.natName = "DEUTSCH"
		case "FR":
			p.natName = "FRANÇAISE"
		case "ES":
			p.natName = "ESPAÑOLA"
		case "IT":
			p.natName = "ITALIANA"
		case "NL":
			p.natName = "NEDERLANDSE"
		case "GB":
			p.natName = "BRITISH CITIZEN"
		}
	}
	p.female = r.IntN(2) == 0
	sur := pick(r, names.surnames)
	if p.female {
		p.first, p.last = pick(r, names.female), sur[1]
	} else {
		p.first, p.last = pick(r, names.male), sur[0]
	}
	if r.IntN(7) == 0 { // a second given name now and then
		var second string
		if p.female {
			second = pick(r, names.female)
		} else {
			second = pick(r, names.male)
		}
		if second != p.first {
			p.first += " " + second
		}
	}
	p.dob = date(1948, 1, 1).AddDate(0, 0, r.IntN(365*57))
	p.birthplace = strings.ToUpper(pick(r, c.cities))
	if docType == ResidencePermit {
		p.birthplace = foreign
	}
	p.issued = date(2016+r.IntN(9), time.Month(1+r.IntN(12)), 1+r.IntN(28))
	switch docType {
	case ResidencePermit:
		p.expires = p.issued.AddDate(5, 0, -1)
		p.permitType = pick(r, []string{"TEMPORARY RESIDENCE", "PERMANENT RESIDENCE", "EU BLUE CARD", "FAMILY MEMBER"})
	case DriverLicense:
		p.expires = p.issued.AddDate(10+5*r.IntN(2), 0, -1)
		p.categories = pick(r, [][]string{{"AM", "B1", "B"}, {"AM", "B1", "B", "BE"}, {"AM", "A1", "A2", "A", "B1", "B"}, {"B1", "B", "C1", "C", "CE"}})
	default:
		p.expires = p.issued.AddDate(10, 0, -1)
	}
	if age := p.issued.Year() - p.dob.Year(); age < 18 && docType == DriverLicense {
		p.dob = p.dob.AddDate(-(18 - age + 1), 0, 0)
	}
	num := c.numbers[docType]
	if num == "" {
		num = c.numbers[""]
	}
	p.docNumber = pattern(r, num)
	switch {
	case c.code == "GB" && docType == DriverLicense:
		p.docNumber = gbLicenceNumber(r, p)
	case c.code == "ES" && docType == DriverLicense:
		p.docNumber = dniNumber(r)
	}
	p.personalCode = personalCode(r, c.code, p)
	p.street = fmt.Sprintf("%s %d", pick(r, c.streets), 1+r.IntN(120))
	if r.IntN(3) == 0 {
		p.street += fmt.Sprintf("-%d", 1+r.IntN(60))
	}
	if c.code == "FR" || c.code == "IT" || c.code == "ES" {
		p.street = fmt.Sprintf("%d %s", 1+r.IntN(120), pick(r, c.streets))
		if c.code != "FR" {
			parts := strings.SplitN(p.street, " ", 2)
			p.street = parts[1] + ", " + parts[0]
		}
	}
	p.city = pick(r, c.cities)
	p.postc = pattern(r, c.postcode)
	return p
}

// personalCode returns the national personal number printed on the document,
// with the real check digits where the scheme is simple; "" where none is printed.
func personalCode(r *rand.Rand, cc string, p person) string {
	y, m, d := p.dob.Date()
	switch cc {
	case "LT", "EE":
		g := 3
		if y >= 2000 {
			g = 5
		}
		if p.female {
			g++
		}
		s := fmt.Sprintf("%d%02d%02d%02d%03d", g, y%100, m, d, r.IntN(1000))
		return s + string(rune('0'+ltCheck(s)))
	case "LV":
		c := 1
		if y >= 2000 {
			c = 2
		}
		return fmt.Sprintf("%02d%02d%02d-%d%04d", d, m, y%100, c, r.IntN(10000))
	case "PL":
		mm := int(m)
		if y >= 2000 {
			mm += 20
		}
		serial := r.IntN(1000)*10 + 2*r.IntN(5)
		if !p.female {
			serial++
		}
		s := fmt.Sprintf("%02d%02d%02d%04d", y%100, mm, d, serial)
		return s + string(rune('0'+peselCheck(s)))
	case "ES":
		return dniNumber(r)
	}
	return ""
}

// peselCheck is the check digit of a Polish PESEL's first ten digits.
func peselCheck(s string) int {
	w := []int{1, 3, 7, 9, 1, 3, 7, 9, 1, 3}
	sum := 0
	for i, c := range s {
		sum += int(c-'0') * w[i]
	}
	return (10 - sum%10) % 10
}

// ltCheck is the check digit of a Lithuanian or Estonian personal code's
// first ten digits.
func ltCheck(s string) int {
	sum := 0
	for i, c := range s {
		sum += int(c-'0') * (i%9 + 1)
	}
	if sum%11 != 10 {
		return sum % 11
	}
	sum = 0
	for i, c := range s {
		sum += int(c-'0') * ((i+2)%9 + 1)
	}
	if sum%11 != 10 {
		return sum % 11
	}
	return 0
}

func dniNumber(r *rand.Rand) string {
	n := r.IntN(100000000)
	return fmt.Sprintf("%08d%c", n, "TRWAGMYFPDXBNJZSQVHLCKE"[n%23])
}

// gbLicenceNumber follows the DVLA layout: surname, birth decade, month (+5 for
// women), day, year digit, initials, a digit and two check letters.
func gbLicenceNumber(r *rand.Rand, p person) string {
	sur := mrzName(p.last)
	sur = strings.ReplaceAll(sur, "<", "")
	for len(sur) < 5 {
		sur += "9"
	}
	y, m, d := p.dob.Date()
	mm := int(m)
	if p.female {
		mm += 50
	}
	ini := mrzName(p.first)[:1] + "9"
	return fmt.Sprintf("%s%d%02d%02d%d%s9%s", sur[:5], y%100/10, mm, d, y%10, ini, pattern(r, "@@"))
}
