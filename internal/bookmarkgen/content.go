package bookmarkgen

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Ordinary content: plain ASCII words, realistic shapes and lengths.

var words = strings.Fields(`
	about access account action active address advanced agile album algorithm analysis
	android apache api app archive article audio author backup banking basic beach best
	blog book browser budget build business cache calendar camera career cars chart cheap
	chess cloud code coffee college compiler concert config cooking course css daily data
	database debug deploy design desktop developer diet docs domain download economy editor
	energy engine english event family fashion finance fitness flight food football forum
	free friends game garden gift golang graph guide guitar health history hobby holiday
	home hosting hotel house howto image index insurance interview java job journal kernel
	kitchen language laptop learn library linux live local london mail manual maps market
	math media medicine meeting memory metrics mobile money monitor movie music network news
	notes online open outdoor packages paper paris parser patterns performance photo piano
	planning podcast policy postgres price project python queue radio recipe reference
	release remote report research review running rust school science search security server
	shopping simple soccer software space sports startup storage store study style summer
	support system tax team tech testing theory ticket tools travel tutorial update video
	vintage weather web weekly wiki winter work world writing yoga
`)

var domains = []string{
	"example.com", "news.ycombinator.com", "github.com", "en.wikipedia.org",
	"developer.mozilla.org", "go.dev", "www.postgresql.org", "stackoverflow.com",
	"www.bbc.co.uk", "arxiv.org", "www.nytimes.com", "medium.com", "www.youtube.com",
	"www.reddit.com", "docs.python.org", "www.amazon.com", "www.imdb.com", "lwn.net",
	"www.theguardian.com", "www.allrecipes.com", "www.linkagogo.com", "blog.example.org",
	"shop.example.net", "maps.example.com", "www.weather.gov", "www.khanacademy.org",
}

var tagWords = []string{
	"work", "home", "todo", "read", "recipes", "travel", "dev", "go", "sql", "music",
	"video", "news", "finance", "kids", "health", "shopping", "reference", "fun",
}

var firstNames = []string{"Ada", "Alan", "Grace", "Linus", "Margaret", "Ken", "Barbara",
	"Dennis", "Frances", "Edsger", "Radia", "Niklaus", "Hedy", "Tim", "Sophie", "Bjarne"}
var lastNames = []string{"Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Thompson",
	"Liskov", "Ritchie", "Allen", "Dijkstra", "Perlman", "Wirth", "Lamarr", "Berners-Lee"}

func title(r *rng, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		w := pick(r, words)
		b.WriteString(strings.ToUpper(w[:1]))
		b.WriteString(w[1:])
	}
	return b.String()
}

func sentence(r *rng, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(pick(r, words))
	}
	b.WriteByte('.')
	return b.String()
}

func plainURL(r *rng) string {
	var b strings.Builder
	b.WriteString("https://")
	b.WriteString(pick(r, domains))
	for i, n := 0, 1+r.intn(3); i < n; i++ {
		b.WriteByte('/')
		b.WriteString(pick(r, words))
		if r.percent(40) {
			b.WriteByte('-')
			b.WriteString(pick(r, words))
		}
	}
	if r.percent(30) {
		b.WriteString("?id=")
		b.WriteString(strconv.Itoa(r.intn(1000000)))
	}
	return b.String()
}

// shortURL is a URL of one domain and one word (the small shape).
func shortURL(r *rng) string {
	return "https://" + pick(r, domains) + "/" + pick(r, words)
}

func plainTags(r *rng) []string {
	n := r.intn(5) - 1 // 40% none
	if n <= 0 {
		return []string{}
	}
	tags := make([]string, n)
	for i := range tags {
		tags[i] = pick(r, tagWords)
	}
	return tags
}

// longText returns at least n characters of words, with multi-byte runes sprinkled in
// when multibyte is set (so that a truncation at any byte offset may split a rune).
func longText(r *rng, n int, multibyte bool) string {
	var b strings.Builder
	b.Grow(n * 11 / 10)
	chars := 0
	for chars < n {
		if chars > 0 {
			b.WriteByte(' ')
			chars++
		}
		w := pick(r, words)
		if multibyte && r.percent(20) {
			w = pick(r, []string{"日本語", "ブックマーク", "🔖", "Ünïcödé", "مرحبا", "Привет"})
		}
		b.WriteString(w)
		chars += utf8.RuneCountInString(w)
	}
	return b.String()
}

// Hostile content. A link is hostile when its id is a multiple of hostileEvery; the
// (id/hostileEvery)-th hostile link takes variant k%len(list) from each list below, so
// every variant appears once there are hostileEvery*len(list) links, and the lists'
// different lengths mix the variants across rows. Same scheme for folders
// (hostileFolderEvery) and members (hostileMemberEvery).
const (
	hostileEvery       = 50
	hostileFolderEvery = 20
	hostileMemberEvery = 10
	// emptyMemberEvery: with Hostile, members whose id is a multiple of this have folders
	// but no links at all (an opted-in member with nothing to export).
	emptyMemberEvery = 97
	longTitleLen     = 10000
	longNotesLen     = 12000
)

// hostileTitles: quotes, markup that closes Netscape-bookmark tags, control characters,
// empty, non-Latin scripts, emoji, backslashes, entity-looking text, CDATA and template
// injection, spreadsheet formulas, and a 10,000-byte title (nil here; built by longText
// with multi-byte runes).
var hostileTitles = []string{
	`It's a "quoted" title`,
	`<script>alert(1)</script>`,
	`Closing </DL><p> and </A> and </H3></DT> tags`,
	"line one\nline two\r\nline three\ttabbed\rCR only",
	"",
	"絵文字 🎉🔖 ブックマークの題名",
	"مرحبا بالعالم \u200f— نص من اليمين إلى اليسار",
	"Привет, мир — закладка",
	`C:\Users\back\slash \\ \n \t not escapes`,
	"", // placeholder: 10,000-byte title
	`&amp; &lt;b&gt; &#39; &#x3C;script&#x3E; entity-looking text`,
	`]]><!-- comment --><![CDATA[ xml breakers <?xml?>`,
	"zero\u200bwidth, combining e\u0301, 𝕌𝕟𝕚𝕔𝕠𝕕𝕖 and \u202ebidi override",
	`{{.Title}} ${HOME} %s %!d(MISSING) $(rm -rf /)`,
	`=HYPERLINK("http://evil.example/","click") +1 -1 @SUM(A1)`,
	`"><img src=x onerror=alert(1)>`,
	`\N`,
	`\.`,
	"   leading and trailing spaces   ",
}

const longTitleVariant = 9

// hostileURLs: &-parameters that look like HTML entities (&not, &copy), script and data
// URLs (also mixed case), attribute breakouts, IDN, credentials, an empty URL, a
// non-URL, a 2,000-byte URL and backslashes.
var hostileURLs = []string{
	"https://example.com/search?q=a&not=1&copy=2&reg=3&lt=4",
	"javascript:alert(1)",
	"data:text/html,<script>alert(document.cookie)</script>",
	`https://example.com/"onmouseover="alert(1)`,
	"https://例え.テスト/パス?q=日本語&emoji=🔖",
	"https://example.com/it's%20a%20path#frag'\"<>",
	"ftp://files.example.com/pub/file.txt",
	"https://user:p%40ss@example.com/private",
	"JaVaScRiPt:alert('mixed case')",
	"  https://example.com/leading-and-trailing-space  ",
	"vbscript:msgbox(1)",
	"", // placeholder: 2,000-byte URL
	"not a url at all",
	"",
	`https://example.com/back\slash\\path`,
	"https://example.com/\ttab\nnewline",
	"data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+",
}

const longURLVariant = 11

// hostileNotes: empty, 12,000 bytes (placeholder, built by longText), markup, control
// characters, emoji ZWJ sequences, SQL injection, COPY text-format markers (\N, \.),
// non-Latin prose.
var hostileNotes = []string{
	"",
	"", // placeholder: 12,000-byte notes
	"<script>alert('notes')</script>\n</DL></A><p>",
	"tab\there\r\nCRLF and\rCR and\nLF\n\n\n",
	"🙂 emoji 🏳️‍🌈 👨‍👩‍👧 ZWJ sequences",
	"'; DROP TABLE links; --",
	"\\N",
	"\\.\nafter end-of-copy marker",
	"これは日本語のメモです。 هذه ملاحظة عربية. Это заметка на русском.",
	`back\slash at end\`,
}

const longNotesVariant = 1

// hostileTags: empty arrays, elements with commas, quotes, braces, backslashes, empty
// strings, the string "NULL", non-Latin, duplicates, and 50 tags.
var hostileTags = [][]string{
	{},
	{"a,b", `with "quote"`, ""},
	{"NULL"},
	{"{braces}", `back\slash`, "  spaced  "},
	{"日本語", "emoji🔖", "Привет"},
	{"<script>", "'single'", "</A>"},
	nil, // placeholder: 50 tags
	{"dup", "dup", "DUP"},
	{"", ""},
}

const manyTagsVariant = 6

// hostileFolderNames: markup, quotes, empty, whitespace only, non-Latin, control
// characters, path-like names, a 1,000-byte name.
var hostileFolderNames = []string{
	`</DL><p>`,
	`Quote "folder" 'name'`,
	`<script>alert(1)</script>`,
	"",
	"   ",
	"Ünïcödé 📁 フォルダ",
	"a\nb\tc\rd",
	`back\slash`,
	"a/b/c",
	"", // placeholder: 1,000-byte name
	"&not;&copy; &amp;",
}

const longFolderVariant = 9

// hostileDisplayNames: emoji, quotes with markup, CJK, Arabic, Cyrillic, empty, newline,
// formula, header-injection attempt.
var hostileDisplayNames = []string{
	"🦊 Fox 🔖",
	`O'Brien "Bob" <script>alert(1)</script>`,
	"山田 太郎",
	"محمد علي",
	"Иван Петров",
	"",
	"Line\nBreak",
	`=HYPERLINK("http://evil.example")`,
	"Eve\r\nBcc: victim@example.test",
	`Back\slash`,
}

// hostileEmail returns a unique but unusual address for member id (variant k).
func hostileEmail(id int64, k int) string {
	s := strconv.FormatInt(id, 10)
	switch k % 4 {
	case 0:
		return "o'brien." + s + "@example.test"
	case 1:
		return "user+tag." + s + "@example.test"
	case 2:
		return "UPPER." + s + "@EXAMPLE.TEST"
	default:
		return "ünïcode." + s + "@例え.テスト"
	}
}

func manyTags() []string {
	t := make([]string, 50)
	for i := range t {
		t[i] = "tag" + strconv.Itoa(i)
	}
	return t
}
