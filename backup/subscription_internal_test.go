package backup

import (
	"io"
	"log/slog"
	"strings"
	"testing"
)

// TestLeaveOutSubscriptionEntries: a snapshot taken before subscriptions were left out at
// backup holds them in its schema script; a restore drops them (and their comments) and
// says so.
func TestLeaveOutSubscriptionEntries(t *testing.T) {
	post, err := parseDump(strings.NewReader(`SET x = 1;
-- Name: s1; Type: SUBSCRIPTION; Schema: -; Owner: postgres
CREATE SUBSCRIPTION s1 CONNECTION 'host=primary' PUBLICATION p WITH (connect = false, slot_name = 's1');
-- Name: SUBSCRIPTION s1; Type: COMMENT; Schema: -; Owner: postgres
COMMENT ON SUBSCRIPTION s1 IS 'from the primary';
-- Name: links links_pkey; Type: CONSTRAINT; Schema: public; Owner: postgres
ALTER TABLE ONLY public.links ADD CONSTRAINT links_pkey PRIMARY KEY (id);
`))
	if err != nil {
		t.Fatal(err)
	}
	r := &restoreRun{m: &Manifest{Excluded: Excluded{Subscriptions: []string{"s2"}}}, rep: &RestoreReport{},
		opts: RestoreOptions{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}}
	r.leaveOutSubscriptions(post)
	if len(post.Entries) != 1 || post.Entries[0].Type != "CONSTRAINT" {
		t.Fatalf("entries left: %+v", post.Entries)
	}
	if got := strings.Join(r.rep.LeftOut, "; "); got != "subscription s2 (not in the snapshot); subscription s1 (in the snapshot, not restored)" {
		t.Fatalf("left out: %s", got)
	}
}
