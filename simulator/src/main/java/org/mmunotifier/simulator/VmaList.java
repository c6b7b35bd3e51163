package org.mmunotifier.simulator;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;

/**
 * A process's virtual memory areas: disjoint page ranges {@code [start, end)} with a protection.
 *
 * <p><b>Locking:</b> the owner's mmap lock; readers (page faults) hold it for read, writers
 * (mmap, munmap, mprotect, fork) for write. This class does no locking of its own.
 */
final class VmaList {
    static final int PROT_READ = 1;
    static final int PROT_WRITE = 2;

    /** One area: pages {@code [start, end)} with {@code prot} bits. */
    record Vma(int start, int end, int prot) {
        boolean writable() {
            return (prot & PROT_WRITE) != 0;
        }

        int length() {
            return end - start;
        }
    }

    private final int pages;
    private final TreeMap<Integer, Vma> byStart = new TreeMap<>();
    /** The areas in address order, rebuilt on every change, so that {@link #random} is O(1). */
    private Vma[] snapshot = new Vma[0];

    VmaList(int pages) {
        this.pages = pages;
    }

    /** @return the area containing {@code vpage}, or null */
    Vma find(int vpage) {
        Map.Entry<Integer, Vma> e = byStart.floorEntry(vpage);
        if (e == null || e.getValue().end <= vpage) {
            return null;
        }
        return e.getValue();
    }

    /** @return the number of areas */
    int size() {
        return snapshot.length;
    }

    /**
     * Merges neighbouring areas that touch and have the same protection (as {@code vma_merge}
     * does for anonymous memory), then rebuilds the snapshot.
     */
    private void changed() {
        Vma[] all = byStart.values().toArray(new Vma[0]);
        int n = 0;
        for (Vma v : all) {
            if (n > 0 && all[n - 1].end == v.start && all[n - 1].prot == v.prot) {
                all[n - 1] = new Vma(all[n - 1].start, v.end, v.prot);
            } else {
                all[n++] = v;
            }
        }
        if (n != all.length) {
            all = java.util.Arrays.copyOf(all, n);
            byStart.clear();
            for (Vma v : all) {
                byStart.put(v.start, v);
            }
        }
        snapshot = all;
    }

    /** @return a uniformly chosen area, or null when there is none */
    Vma random(SplittableRandom rng) {
        Vma[] s = snapshot;
        return s.length == 0 ? null : s[rng.nextInt(s.length)];
    }

    /** @return a snapshot of the areas in address order */
    List<Vma> all() {
        return List.of(snapshot);
    }

    /**
     * Maps a new area of {@code length} pages in the first gap at or after a random hint.
     *
     * @return the new area, or null when no gap is large enough
     */
    Vma mmap(int length, int prot, SplittableRandom rng) {
        if (length <= 0 || length > pages) {
            throw new IllegalArgumentException("mmap length " + length + " outside 1.." + pages);
        }
        int hint = rng.nextInt(pages);
        Vma v = firstFit(hint, pages, length, prot);
        if (v == null) {
            v = firstFit(0, hint + length, length, prot);
        }
        if (v != null) {
            byStart.put(v.start, v);
            changed();
        }
        return v;
    }

    private Vma firstFit(int from, int limit, int length, int prot) {
        int cursor = from;
        Vma before = find(from);
        if (before != null) {
            cursor = before.end;
        }
        for (Vma v : byStart.tailMap(cursor, true).values()) {
            if (v.start - cursor >= length) {
                break;
            }
            cursor = v.end;
        }
        int end = cursor + length;
        if (end > Math.min(limit, pages)) {
            return null;
        }
        return new Vma(cursor, end, prot);
    }

    /** Inserts an area exactly as given (fork copies the parent's). */
    void insert(Vma v) {
        if (v.start < 0 || v.end > pages || v.start >= v.end) {
            throw new IllegalArgumentException("bad area " + v);
        }
        Vma at = find(v.start);
        Map.Entry<Integer, Vma> next = byStart.ceilingEntry(v.start);
        if (at != null || (next != null && next.getKey() < v.end)) {
            throw new IllegalArgumentException(v + " overlaps an existing area");
        }
        byStart.put(v.start, v);
        changed();
    }

    /** Removes pages {@code [start, end)} from every area, splitting areas at the edges. */
    void unmap(int start, int end) {
        splitAt(start);
        splitAt(end);
        byStart.subMap(start, true, end, false).clear();
        changed();
    }

    /** Sets the protection of pages {@code [start, end)} that are mapped, splitting at the edges. */
    void protect(int start, int end, int prot) {
        splitAt(start);
        splitAt(end);
        List<Vma> inside = new ArrayList<>(byStart.subMap(start, true, end, false).values());
        for (Vma v : inside) {
            byStart.put(v.start, new Vma(v.start, v.end, prot));
        }
        changed();
    }

    private void splitAt(int page) {
        Vma v = find(page);
        if (v != null && v.start < page) {
            byStart.put(v.start, new Vma(v.start, page, v.prot));
            byStart.put(page, new Vma(page, v.end, v.prot));
        }
    }
}
