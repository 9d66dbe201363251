package export_test

import (
	"strings"
	"time"

	"github.com/linkagogo/linkbackup/export"
)

// A golden case is one member's rows; its expected files are in
// testdata/export/<name>/ (bookmarks.html, bookmarks.xbel, warnings.txt).
type goldenCase struct {
	name    string
	member  export.Member
	folders []export.Folder
	links   []export.Link
	// notNetscapeGo: netscape-go reads dates after now+30y as milliseconds and a
	// missing LAST_MODIFIED as ADD_DATE, so the dates case is not compared with it.
	notNetscapeGo bool
}

var (
	t0 = time.Date(2023, 11, 14, 22, 13, 20, 0, time.UTC) // 1700000000
	t1 = time.Date(2024, 2, 29, 8, 0, 0, 0, time.UTC)
)

func at(d time.Duration) time.Time { return t0.Add(d) }

func goldenCases() []goldenCase {
	return []goldenCase{
		{
			name:   "basic",
			member: export.Member{ID: 1, Email: "ada@example.test", DisplayName: "Ada"},
			folders: []export.Folder{
				{ID: 10, Name: "Work", Position: 1, CreatedAt: at(0), UpdatedAt: at(time.Hour)},
				{ID: 11, Name: "Home", Position: 0, CreatedAt: at(time.Minute), UpdatedAt: at(time.Minute)},
				{ID: 14, ParentID: 10, Name: "Databases", Position: 0, CreatedAt: at(2 * time.Minute), UpdatedAt: at(2 * time.Minute)},
				{ID: 12, ParentID: 10, Name: "Go", Position: 0, CreatedAt: at(3 * time.Minute), UpdatedAt: at(3 * time.Minute)},
				{ID: 13, ParentID: 11, Name: "Empty folder", Position: 5, CreatedAt: at(4 * time.Minute), UpdatedAt: at(4 * time.Minute)},
			},
			links: []export.Link{
				{ID: 100, URL: "https://www.linkagogo.com/", Title: "LinkaGoGo", Position: 2, CreatedAt: at(0), UpdatedAt: at(0)},
				{ID: 101, URL: "https://example.com/search?q=go&lang=en", Title: "Search", Position: 1, CreatedAt: at(time.Second), UpdatedAt: at(2 * time.Second)},
				{ID: 103, FolderID: 12, URL: "https://go.dev/doc/effective_go", Title: "Effective Go", Tags: []string{"go", "docs"}, Position: 1, CreatedAt: t1, UpdatedAt: t1},
				{ID: 102, FolderID: 12, URL: "https://go.dev/ref/spec", Title: "The Go Programming Language Specification", Tags: []string{"go"}, Position: 1, CreatedAt: t1, UpdatedAt: t1, VisitedAt: t1.Add(48 * time.Hour)},
				{ID: 104, FolderID: 14, URL: "https://www.postgresql.org/docs/15/sql-copy.html", Title: "COPY", Tags: []string{"sql", "postgres"},
					Notes: "Text format: \\N is NULL.\nBinary format is faster.", Position: 0, CreatedAt: t1, UpdatedAt: t1.Add(time.Hour)},
				{ID: 105, FolderID: 11, URL: "https://www.allrecipes.com/recipe/1/", Title: "Pancakes", Private: true, ReadLater: true,
					Notes: "Sunday", Position: 0, CreatedAt: t1, UpdatedAt: t1, VisitedAt: t1},
			},
		},
		{
			name:   "empty",
			member: export.Member{ID: 2, Email: "empty@example.test"},
		},
		{
			name:   "hostile",
			member: export.Member{ID: 3, Email: "o'brien@example.test", DisplayName: `O'Brien "Bob" <script>`},
			folders: []export.Folder{
				{ID: 20, Name: "</DL><p>", Position: 0, CreatedAt: t0, UpdatedAt: t0},
				{ID: 21, Name: `Quote "folder" 'name' & <b>`, Position: 1, CreatedAt: t0, UpdatedAt: t0},
				{ID: 22, ParentID: 21, Name: "a\nb\tc\rd", Position: 0, CreatedAt: t0, UpdatedAt: t0},
				{ID: 23, Name: "   ", Position: 2, CreatedAt: t0, UpdatedAt: t0},
				{ID: 24, Name: "Ünïcödé 📁 フォルダ", Position: 3, CreatedAt: t0, UpdatedAt: t0},
				{ID: 25, Name: "&not;&copy; &amp;", Position: 4, CreatedAt: t0, UpdatedAt: t0},
			},
			links: []export.Link{
				{ID: 200, FolderID: 20, URL: "https://example.com/search?q=a&not=1&copy=2&reg=3&lt=4", Title: `It's a "quoted" title`, Position: 0, CreatedAt: t0, UpdatedAt: t0},
				{ID: 201, FolderID: 20, URL: "javascript:alert(1)", Title: "<script>alert(1)</script>", Position: 1, CreatedAt: t0, UpdatedAt: t0},
				{ID: 202, FolderID: 20, URL: "data:text/html,<script>alert(document.cookie)</script>", Title: "data URL", Position: 2, CreatedAt: t0, UpdatedAt: t0},
				{ID: 203, FolderID: 20, URL: " \tJaVa\tScRiPt:alert('mixed case')", Title: "mixed-case javascript", Position: 3, CreatedAt: t0, UpdatedAt: t0},
				{ID: 204, FolderID: 20, URL: "vbscript:msgbox(1)", Title: "vbscript", Position: 4, CreatedAt: t0, UpdatedAt: t0},
				{ID: 205, FolderID: 21, URL: `https://example.com/"onmouseover="alert(1)`, Title: `"><img src=x onerror=alert(1)>`, Position: 0, CreatedAt: t0, UpdatedAt: t0},
				{ID: 206, FolderID: 21, URL: "https://例え.テスト/パス?q=日本語&emoji=🔖", Title: "絵文字 🎉🔖 ブックマークの題名", Position: 1, CreatedAt: t0, UpdatedAt: t0},
				{ID: 207, FolderID: 21, URL: "https://example.com/it's%20a%20path#frag'\"<>", Title: "", Position: 2, CreatedAt: t0, UpdatedAt: t0},
				{ID: 208, FolderID: 22, URL: "  https://example.com/leading-and-trailing-space  ", Title: "line one\nline two\r\nline three\ttabbed\rCR only", Position: 0, CreatedAt: t0, UpdatedAt: t0},
				{ID: 209, FolderID: 22, URL: "https://example.com/\ttab\nnewline\x00nul\x7fdel\u0085nel", Title: "ctl\x00\x01\x1b[31m\x7f\u009b end", Position: 1, CreatedAt: t0, UpdatedAt: t0},
				{ID: 210, FolderID: 23, URL: "https://example.com/bad-\xff\xfe-utf8", Title: "bad \xff\xfe utf8 \xed\xa0\x80 surrogate \uFFFE\uFFFF nonchars", Position: 0, CreatedAt: t0, UpdatedAt: t0},
				{ID: 211, FolderID: 23, URL: "https://example.com/notes", Title: "Notes that try to break out",
					Notes: "<script>alert('notes')</script>\n</DL></A><p>\r\n<DT><A HREF=\"x\">fake</A>\ttab\rCR\n\n\n", Position: 1, CreatedAt: t0, UpdatedAt: t0},
				{ID: 212, FolderID: 24, URL: "https://example.com/tags", Title: "Tags", Tags: []string{"a,b", `with "quote"`, "", "  spaced  ", "<script>", "'single'", "日本語", "tab\there"},
					Position: 0, CreatedAt: t0, UpdatedAt: t0},
				{ID: 213, FolderID: 24, URL: "https://example.com/long", Title: strings.Repeat("Long ブックマーク title ", 500), Position: 1, CreatedAt: t0, UpdatedAt: t0},
				{ID: 214, FolderID: 25, URL: "", Title: "empty URL", Position: 0, CreatedAt: t0, UpdatedAt: t0},
				{ID: 215, FolderID: 25, URL: "not a url at all", Title: "", Position: 1, CreatedAt: t0, UpdatedAt: t0},
				{ID: 216, FolderID: 25, URL: "https://example.com/cdata", Title: "]]><!-- comment --><![CDATA[ xml breakers <?xml?>",
					Notes: "&amp; &lt;b&gt; &#39; &#x3C;script&#x3E; entity-looking text", Position: 2, CreatedAt: t0, UpdatedAt: t0},
				{ID: 217, URL: "data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+", Title: "top-level data image", Position: 0, CreatedAt: t0, UpdatedAt: t0},
				{ID: 218, URL: "https://example.com/rtl", Title: "مرحبا بالعالم \u200f— نص \u202ebidi", Notes: "🙂 🏳️‍🌈 👨‍👩‍👧", Position: 1, CreatedAt: t0, UpdatedAt: t0},
			},
		},
		{
			name:   "inconsistent",
			member: export.Member{ID: 4, Email: "a@example.test"},
			folders: []export.Folder{
				{ID: 30, Name: "Fine", Position: 0, CreatedAt: t0, UpdatedAt: t0},
				// 31 <-> 32 form a cycle; 33 hangs below it; 34 is its own parent.
				{ID: 32, ParentID: 31, Name: "Cycle B", Position: 0, CreatedAt: t0, UpdatedAt: t0},
				{ID: 31, ParentID: 32, Name: "Cycle A", Position: 1, CreatedAt: t0, UpdatedAt: t0},
				{ID: 33, ParentID: 32, Name: "Below the cycle", Position: 0, CreatedAt: t0, UpdatedAt: t0},
				{ID: 34, ParentID: 34, Name: "Self parent", Position: 2, CreatedAt: t0, UpdatedAt: t0},
				// 35's parent 900 belongs to another member (not among these rows).
				{ID: 35, ParentID: 900, Name: "Foreign parent", Position: 3, CreatedAt: t0, UpdatedAt: t0},
				// A second row for folder 30 (a joining custom query): ignored.
				{ID: 30, Name: "Fine duplicate", Position: 9, CreatedAt: t0, UpdatedAt: t0},
			},
			links: []export.Link{
				{ID: 300, FolderID: 901, URL: "https://example.com/in-foreign-folder", Title: "In another member's folder", Position: 0, CreatedAt: t0, UpdatedAt: t0},
				{ID: 301, FolderID: 31, URL: "https://example.com/in-cycle-a", Title: "In cycle A", Position: 0, CreatedAt: t0, UpdatedAt: t0},
				{ID: 302, FolderID: 32, URL: "https://example.com/in-cycle-b", Title: "In cycle B", Position: 0, CreatedAt: t0, UpdatedAt: t0},
				{ID: 303, FolderID: 33, URL: "https://example.com/below-cycle", Title: "Below the cycle", Position: 0, CreatedAt: t0, UpdatedAt: t0},
				{ID: 304, FolderID: 34, URL: "https://example.com/in-self-parent", Title: "In self parent", Position: 0, CreatedAt: t0, UpdatedAt: t0},
				{ID: 305, FolderID: 35, URL: "https://example.com/in-foreign-parent", Title: "Under a foreign parent", Position: 0, CreatedAt: t0, UpdatedAt: t0},
				{ID: 306, FolderID: 902, URL: "https://example.com/in-deleted-folder", Title: "In a deleted folder", Position: 1, CreatedAt: t0, UpdatedAt: t0},
				{ID: 307, FolderID: 30, URL: "https://example.com/fine", Title: "Fine", Position: 0, CreatedAt: t0, UpdatedAt: t0},
				{ID: 307, FolderID: 30, URL: "https://example.com/fine", Title: "Fine", Position: 0, CreatedAt: t0, UpdatedAt: t0},
			},
		},
		{
			name:          "dates",
			notNetscapeGo: true,
			member:        export.Member{ID: 5},
			folders: []export.Folder{
				{ID: 40, Name: "No dates"},
				{ID: 41, Name: "Before 1970", Position: 1, CreatedAt: time.Date(1969, 7, 20, 20, 17, 40, 0, time.UTC), UpdatedAt: time.Date(1969, 7, 21, 2, 56, 0, 0, time.UTC)},
			},
			links: []export.Link{
				{ID: 400, FolderID: 40, URL: "https://example.com/no-dates", Title: "no dates"},
				{ID: 401, FolderID: 41, URL: "https://example.com/apollo", Title: "pre-1970", CreatedAt: time.Date(1969, 7, 20, 20, 17, 40, 0, time.UTC),
					UpdatedAt: time.Date(1969, 7, 21, 2, 56, 0, 0, time.UTC), VisitedAt: time.Date(1969, 7, 24, 16, 50, 35, 0, time.UTC)},
				{ID: 402, URL: "https://example.com/fractions", Title: "sub-second and zones", CreatedAt: time.Date(2024, 1, 1, 1, 2, 3, 999999999, time.FixedZone("x", 5*3600+1800)),
					UpdatedAt: time.Date(2024, 1, 1, 0, 0, 0, 1, time.UTC)},
				{ID: 403, URL: "https://example.com/far-future", Title: "year 10000", Position: 1, CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
					UpdatedAt: time.Date(2999, 12, 31, 23, 59, 59, 0, time.UTC)},
				{ID: 404, URL: "https://example.com/only-added", Title: "only added", Position: 2, CreatedAt: t0},
			},
		},
	}
}
