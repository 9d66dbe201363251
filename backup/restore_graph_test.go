package backup

import "testing"

func TestKeyUsingIndex(t *testing.T) {
	build, attach, ok := keyUsingIndex("ALTER TABLE ONLY public.links\n    ADD CONSTRAINT links_pkey PRIMARY KEY (id);\n")
	if !ok || build != "CREATE UNIQUE INDEX links_pkey ON public.links USING btree (id);" ||
		attach != "ALTER TABLE ONLY public.links ADD CONSTRAINT links_pkey PRIMARY KEY USING INDEX links_pkey;" {
		t.Fatalf("pkey: %q %q %v", build, attach, ok)
	}
	build, attach, ok = keyUsingIndex("ALTER TABLE ONLY \"Odd \"\"s\"\"\".\"T.b\"\n    ADD CONSTRAINT \"U k\" UNIQUE (a, \"B\");")
	if !ok || build != `CREATE UNIQUE INDEX "U k" ON "Odd ""s"""."T.b" USING btree (a, "B");` ||
		attach != `ALTER TABLE ONLY "Odd ""s"""."T.b" ADD CONSTRAINT "U k" UNIQUE USING INDEX "U k";` {
		t.Fatalf("quoted unique: %q %q %v", build, attach, ok)
	}
	// Forms that keep pg_dump's statement: any clause USING INDEX cannot take.
	for _, sql := range []string{
		"ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (id) INCLUDE (b);",
		"ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_key UNIQUE NULLS NOT DISTINCT (a);",
		"ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_key UNIQUE (a) WITH (fillfactor='50');",
		"ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_key UNIQUE (a) DEFERRABLE;",
		"ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_ex EXCLUDE USING gist (r WITH &&);",
		"ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_c CHECK ((a > 0));",
		"SET default_tablespace = x;\nALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (id);",
		"ALTER TABLE public.t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (id);",
	} {
		if _, _, ok := keyUsingIndex(sql); ok {
			t.Errorf("converted %q", sql)
		}
	}
}

func TestEntryTables(t *testing.T) {
	for sql, want := range map[string]string{
		"CREATE INDEX links_member_folder ON public.links USING btree (member_id);":        tableKey("public", "links"),
		"CREATE UNIQUE INDEX u ON ONLY \"S\".\"p\"\"q\" USING btree (a);":                  tableKey("S", `p"q`),
		"ALTER TABLE ONLY public.links\n    ADD CONSTRAINT links_pkey PRIMARY KEY (id);":   tableKey("public", "links"),
		"CREATE TRIGGER x AFTER INSERT ON public.links FOR EACH ROW EXECUTE FUNCTION f();": "",
		"SET default_tablespace = x;\nCREATE INDEX i ON public.t USING btree (a);":         "",
	} {
		if got := entryTable(sql); got != want {
			t.Errorf("entryTable(%q) = %q, want %q", sql, got, want)
		}
	}
	fk := "ALTER TABLE ONLY public.links\n    ADD CONSTRAINT links_folder_id_fkey FOREIGN KEY (folder_id) REFERENCES public.folders(id) ON DELETE SET NULL;"
	if got := referencedTable(fk); got != tableKey("public", "folders") {
		t.Fatalf("referencedTable = %q", got)
	}
	fk = "ALTER TABLE ONLY public.a\n    ADD CONSTRAINT f FOREIGN KEY (x, y) REFERENCES \"Q\".\"b c\"(x, y);"
	if got := referencedTable(fk); got != tableKey("Q", "b c") {
		t.Fatalf("referencedTable quoted = %q", got)
	}
}

// The conflict table is PostgreSQL's (the documentation's table-level lock conflicts).
func TestLockConflicts(t *testing.T) {
	modes := []lockMode{lockAccessShare, lockRowExclusive, lockShareUpdateExclusive, lockShare, lockShareRowExclusive, lockAccessExclusive}
	// rows and columns in the order of modes; x conflicts
	want := []string{
		".....x",
		"...xxx",
		"..xxxx",
		".xx.xx",
		".xxxxx",
		"xxxxxx",
	}
	for i, a := range modes {
		for j, b := range modes {
			if got := a.conflicts(b); got != (want[i][j] == 'x') {
				t.Errorf("mode %d vs %d: conflicts %v", a, b, got)
			}
		}
	}
}
