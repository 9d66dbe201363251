package export

import "unsafe"

// arenaChunk is the size of the blocks the Builder's arena is allocated in.
const arenaChunk = 64 << 10

// reserve makes room for n more bytes in the arena. A full block is left to the
// strings that point into it and a new one is started (never grown in place: the
// strings handed out stay valid).
func (b *Builder) reserve(n int) {
	if cap(b.arena)-len(b.arena) < n {
		b.arena = make([]byte, 0, max(arenaChunk, n))
	}
}

// arenaString returns the arena's bytes from start on as a string; they are never
// written again before the next Build.
func (b *Builder) arenaString(start int) string {
	s := b.arena[start:]
	return unsafe.String(unsafe.SliceData(s), len(s))
}

// escape returns s escaped (appendEscaped), in the arena.
func (b *Builder) escape(s string) string {
	b.reserve(6 * len(s)) // "&quot;" is the longest replacement
	start := len(b.arena)
	b.arena = appendEscaped(b.arena, s)
	return b.arenaString(start)
}

// joinTags returns the tags comma-joined, in the arena, escaped when esc is set.
func (b *Builder) joinTags(tags []string, esc bool) string {
	n := 0
	for _, t := range tags {
		n += len(t) + 1
	}
	if esc {
		n *= 6
	}
	b.reserve(n)
	start := len(b.arena)
	for i, t := range tags {
		if i > 0 {
			b.arena = append(b.arena, ',')
		}
		if esc {
			b.arena = appendEscaped(b.arena, t)
		} else {
			b.arena = append(b.arena, t...)
		}
	}
	return b.arenaString(start)
}
