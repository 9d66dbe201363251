package export_test

import (
	"html"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/linkagogo/linkbackup/export"
)

func TestCleanTitle(t *testing.T) {
	for in, want := range map[string]string{
		"":                                       "",
		"plain":                                  "plain",
		"  padded\t":                             "padded",
		"a\nb\r\nc\rd\te":                        "a b c d e",
		"nul\x00 esc\x1b del\x7f c1\u0085\u009f": "nul  esc  del  c1",
		"bad \xff\xfe":                           "bad \uFFFD\uFFFD",
		"nonchar \uFFFE\uFFFF":                   "nonchar \uFFFD\uFFFD",
		"\u00a0nbsp\u3000":                       "nbsp",
		"<b>&amp;\"'":                            "<b>&amp;\"'", // escaping is the writer's job
		"絵文字 🎉":                                  "絵文字 🎉",
		"\u200bzero width\u200b":                 "\u200bzero width\u200b", // not white space
	} {
		if got := export.CleanTitle(in); got != want {
			t.Fatalf("CleanTitle(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCleanNotes(t *testing.T) {
	for in, want := range map[string]string{
		"":                          "",
		"one\r\ntwo\rthree\nfour":   "one\ntwo\nthree\nfour",
		"\n\n  indented\n\ttab\n\n": "indented\n\ttab",
		"nul\x00bell\x07":           "nul bell",
		"bad\xff":                   "bad\uFFFD",
		"</DL><p>":                  "</DL><p>",
	} {
		if got := export.CleanNotes(in); got != want {
			t.Fatalf("CleanNotes(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCleanTag(t *testing.T) {
	for in, want := range map[string]string{"a,b": "a b", " x ": "x", ",": "", "t\tab": "t ab"} {
		if got := export.CleanTag(in); got != want {
			t.Fatalf("CleanTag(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCleanURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://example.com/a?b=1&not=2": "https://example.com/a?b=1&not=2",
		"  https://example.com/  \n":      "https://example.com/",
		`https://x/"onclick="a`:           "https://x/%22onclick=%22a",
		"https://x/<script>":              "https://x/%3Cscript%3E",
		"https://x/a b\tc\nd\x00e\x7f":    "https://x/a%20b%09c%0Ad%00e%7F",
		"https://x/\xff\xfe":              "https://x/%FF%FE",
		"https://x/\u0085\uFFFE":          "https://x/%C2%85%EF%BF%BE",
		"https://例え.テスト/パス?q=日本語&e=🔖":     "https://例え.テスト/パス?q=日本語&e=🔖",
		"https://x/already%20encoded%ZZ":  "https://x/already%20encoded%ZZ",
		"https://x/it's#frag'":            "https://x/it's#frag'",
		"":                                "",
	} {
		if got := export.CleanURL(in); got != want {
			t.Fatalf("CleanURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUnsafeURL(t *testing.T) {
	for in, want := range map[string]bool{
		"javascript:alert(1)":             true,
		"JaVaScRiPt:alert(1)":             true,
		" \x01javascript:x":               true,
		"java\tscr\nipt:x":                true,
		"vbscript:msgbox(1)":              true,
		"data:text/html,<script>":         true,
		"DATA:image/png;base64,AAAA":      true,
		"https://example.com/javascript:": false,
		"/javascript:x":                   false,
		"javascript-x:y":                  false,
		"xjavascript:y":                   false,
		"java script:x":                   false, // not a scheme: a relative URL
		"mailto:a@example.com":            false,
		"":                                false,
		"data":                            false,
	} {
		if got := export.UnsafeURL(in); got != want {
			t.Fatalf("UnsafeURL(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestEscapeText(t *testing.T) {
	in := `<a href="x">Tom & Jerry's</a> &amp; é`
	want := `&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt; &amp;amp; é`
	if got := export.EscapeText(in); got != want {
		t.Fatalf("EscapeText = %q, want %q", got, want)
	}
}

// Fuzz targets. Seed corpus: the f.Add calls plus testdata/fuzz/<Name>/.

var hostileSeeds = []string{
	"", " ", "plain", `It's a "quoted" title`, "<script>alert(1)</script>", "</DL><p></A></H3></DT>",
	"line one\nline two\r\nthree\tfour\rfive", "\x00\x01\x1b\x7f\u0085\u009f", "bad \xff\xfe \xed\xa0\x80",
	"\uFFFE\uFFFF", "絵文字 🎉🔖", "مرحبا \u200f\u202e", "&amp; &lt;b&gt; &#39; &#x3C;", "]]><![CDATA[<?xml?>",
	"javascript:alert(1)", " JaVa\tScript:x", "data:text/html,<script>", "https://example.com/a?b=1&not=2&copy=3",
	"https://x/\"onmouseover=\"alert(1)", "a,b", "\u00a0nbsp\u3000", "%ZZ%20%",
}

func FuzzCleanTitle(f *testing.F) {
	for _, s := range hostileSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := export.CleanTitle(s)
		if !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8 %q", got)
		}
		for _, r := range got {
			if r < 0x20 || r >= 0x7f && r <= 0x9f || r == 0xFFFE || r == 0xFFFF {
				t.Fatalf("control or nonchar %U in %q", r, got)
			}
		}
		if got != strings.TrimSpace(got) {
			t.Fatalf("not trimmed: %q", got)
		}
		if again := export.CleanTitle(got); again != got {
			t.Fatalf("not idempotent: %q -> %q", got, again)
		}
		if tag := export.CleanTag(s); strings.Contains(tag, ",") || export.CleanTag(tag) != tag {
			t.Fatalf("CleanTag(%q) = %q", s, tag)
		}
	})
}

func FuzzCleanNotes(f *testing.F) {
	for _, s := range hostileSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := export.CleanNotes(s)
		if !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8 %q", got)
		}
		for _, r := range got {
			if (r < 0x20 && r != '\n' && r != '\t') || r >= 0x7f && r <= 0x9f || r == 0xFFFE || r == 0xFFFF {
				t.Fatalf("control or nonchar %U in %q", r, got)
			}
		}
		if got != strings.TrimSpace(got) {
			t.Fatalf("not trimmed: %q", got)
		}
		if again := export.CleanNotes(got); again != got {
			t.Fatalf("not idempotent: %q -> %q", got, again)
		}
	})
}

func FuzzCleanURL(f *testing.F) {
	for _, s := range hostileSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := export.CleanURL(s)
		if !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8 %q", got)
		}
		for _, r := range got {
			if r <= ' ' || r == 0x7f || r == '"' || r == '<' || r == '>' || r >= 0x80 && r <= 0x9f || r == 0xFFFE || r == 0xFFFF {
				t.Fatalf("%U left raw in %q", r, got)
			}
		}
		if again := export.CleanURL(got); again != got {
			t.Fatalf("not idempotent: %q -> %q", got, again)
		}
		// A URL that needs nothing is kept byte for byte.
		trimmed := strings.TrimFunc(s, func(r rune) bool { return r <= ' ' })
		if utf8.ValidString(trimmed) && !strings.ContainsFunc(trimmed, func(r rune) bool {
			return r <= ' ' || r == 0x7f || r == '"' || r == '<' || r == '>' || r >= 0x80 && r <= 0x9f || r == 0xFFFE || r == 0xFFFF
		}) && got != trimmed {
			t.Fatalf("clean URL %q changed to %q", trimmed, got)
		}
	})
}

var schemeRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*$`)

// FuzzUnsafeURL compares UnsafeURL with a direct transcription of the WHATWG URL
// parser's first steps.
func FuzzUnsafeURL(f *testing.F) {
	for _, s := range hostileSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pre := strings.TrimLeftFunc(s, func(r rune) bool { return r <= ' ' })
		pre = strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(pre)
		want := false
		if i := strings.IndexByte(pre, ':'); i > 0 && schemeRe.MatchString(pre[:i]) {
			switch strings.ToLower(pre[:i]) {
			case "javascript", "vbscript", "data":
				want = true
			}
		}
		if got := export.UnsafeURL(s); got != want {
			t.Fatalf("UnsafeURL(%q) = %v, want %v", s, got, want)
		}
	})
}

var fiveEntities = regexp.MustCompile(`&(amp|lt|gt|quot|#39);`)

func FuzzEscapeText(f *testing.F) {
	for _, s := range hostileSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := export.EscapeText(s)
		if strings.ContainsAny(got, `<>"'`) {
			t.Fatalf("raw markup character left in %q", got)
		}
		if strings.Count(got, "&") != len(fiveEntities.FindAllString(got, -1)) {
			t.Fatalf("an & that is not one of the five entities in %q", got)
		}
		if utf8.ValidString(s) && html.UnescapeString(got) != s {
			t.Fatalf("html.UnescapeString(EscapeText(%q)) = %q", s, html.UnescapeString(got))
		}
	})
}

func TestW3CMatchesAppendFormat(t *testing.T) {
	times := []time.Time{
		time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC), time.Date(1969, 7, 20, 20, 17, 40, 0, time.UTC),
		time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.FixedZone("x", -7*3600)), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(1600, 2, 29, 12, 0, 0, 0, time.UTC), time.Date(1900, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for _, tm := range times {
		tree, _ := export.BuildTree(export.Member{ID: 1}, nil, []export.Link{{ID: 1, URL: "u", CreatedAt: tm}})
		var b strings.Builder
		if _, err := export.WriteXBEL(&b, tree); err != nil {
			t.Fatal(err)
		}
		if want := `added="` + tm.UTC().Format("2006-01-02T15:04:05Z") + `"`; !strings.Contains(b.String(), want) {
			t.Fatalf("%v: want %s in\n%s", tm, want, b.String())
		}
	}
}
