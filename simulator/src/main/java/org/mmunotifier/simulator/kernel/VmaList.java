package org.mmunotifier.simulator.kernel;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A process's virtual memory areas: disjoint page ranges {@code [start, end)} with a protection,
 * kept sorted, with touching areas of the same protection merged (as {@code vma_merge} does for
 * anonymous memory).
 *
 * <p>The areas live in an immutable sorted array that every change replaces, so lookups are a
 * binary search, a random pick is O(1), and fork shares the parent's array.
 *
 * <p><b>Locking:</b> the owner's mmap lock; readers (page faults) hold it for read, writers
 * (mmap, munmap, mprotect, mremap, fork) for write. This class does no locking of its own;
 * {@link #randomUnlocked} reads a snapshot without the lock.
 */
public final class VmaList {
    static final int PROT_READ = 1;
    static final int PROT_WRITE = 2;

    /** One area: pages {@code [start, end)} with {@code prot} bits. */
    public record Vma(int start, int end, int prot) {
        public boolean writable() {
            return (prot & PROT_WRITE) != 0;
        }

        public int length() {
            return end - start;
        }
    }

    private final int pages;
    /**
     * Where {@link #mmap} and {@link #findGap} place areas: below this page. A quarter of the
     * address space, at least 256 pages (all of a small one): the rest is left to the areas that
     * {@link #mmapAligned} places at 2 MiB boundaries, as a program's small mappings cluster in
     * one part of its address space. It keeps the pages a process touches, and so the
     * simulator's working set, independent of the address space's size.
     */
    private final int smallLimit;
    /**
     * Sorted, disjoint, merged; never modified in place. Written under the mmap write lock;
     * volatile so that {@link #randomUnlocked} may read a consistent snapshot without the lock.
     */
    private volatile Vma[] areas = new Vma[0];
    /**
     * Whether some area has {@code VM_SOFTDIRTY}: set by mmap ({@code mmap_region}), inherited by
     * fork, cleared by {@code clear_refs}. Under the mmap lock like the areas.
     */
    private boolean softDirty;

    VmaList(int pages) {
        this.pages = pages;
        this.smallLimit = Math.min(pages, Math.max(SMALL_AREAS_MIN, pages / 4));
    }

    /** The least {@link #smallLimit}. */
    static final int SMALL_AREAS_MIN = 256;

    /** @return the area containing {@code vpage}, or null */
    Vma find(int vpage) {
        Vma[] a = areas;
        int lo = 0;
        int hi = a.length - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            Vma v = a[mid];
            if (vpage < v.start) {
                hi = mid - 1;
            } else if (vpage >= v.end) {
                lo = mid + 1;
            } else {
                return v;
            }
        }
        return null;
    }

    /** @return the number of areas */
    int size() {
        return areas.length;
    }

    /** @return a uniformly chosen area, or null when there is none */
    Vma random(SplittableRandom rng) {
        Vma[] a = areas;
        return a.length == 0 ? null : a[rng.nextInt(a.length)];
    }

    /**
     * A random area from a snapshot, without the mmap lock: how a program or a device picks an
     * address to touch. The area may be gone by the time the address is used; the fault or the
     * device access then takes the locks and finds out.
     *
     * @return a uniformly chosen area of a recent snapshot, or null
     */
    public Vma randomUnlocked(SplittableRandom rng) {
        return random(rng);
    }

    /** @return the areas in address order */
    List<Vma> all() {
        return List.of(areas);
    }

    /** Makes this list a copy of {@code parent}'s (fork). */
    void copyFrom(VmaList parent) {
        if (parent.pages != pages) {
            throw new IllegalArgumentException("address spaces differ in size");
        }
        areas = parent.areas;
        softDirty = parent.softDirty;
    }

    /** @return whether some area has {@code VM_SOFTDIRTY}; mmap lock held */
    boolean softDirty() {
        return softDirty;
    }

    /** Clears {@code VM_SOFTDIRTY} on every area; mmap lock held for write. */
    void clearSoftDirty() {
        softDirty = false;
    }

    /**
     * Maps a new area of {@code length} pages in the first gap below the small areas' limit at or
     * after a random hint, or else the first gap from the bottom.
     *
     * @return the new area, or null when no gap is large enough
     */
    Vma mmap(int length, int prot, SplittableRandom rng) {
        if (length <= 0 || length > pages) {
            throw new IllegalArgumentException("mmap length " + length + " outside 1.." + pages);
        }
        int start = findGap(length, rng);
        if (start < 0) {
            return null;
        }
        Vma v = new Vma(start, start + length, prot);
        insert(v);
        softDirty = true; // mmap_region: a new area is soft-dirty
        return v;
    }

    /**
     * Maps a new area of {@code length} pages starting at a multiple of {@code align}: the first
     * such gap at or after a random aligned hint, or else from the bottom (an allocator asking
     * for a 2 MiB-aligned region, so that the area may hold huge pages).
     *
     * @return the new area, or null when no aligned gap is large enough
     */
    Vma mmapAligned(int length, int align, int prot, SplittableRandom rng) {
        if (length <= 0 || length > pages || align <= 0) {
            throw new IllegalArgumentException("aligned mmap of " + length + " pages at " + align + " outside 1.." + pages);
        }
        int slots = (pages - length) / align + 1;
        if (slots <= 0) {
            return null;
        }
        int hint = rng.nextInt(slots);
        for (int i = 0; i < slots; i++) {
            int start = ((hint + i) % slots) * align;
            if (isFree(start, start + length)) {
                Vma v = new Vma(start, start + length, prot);
                insert(v);
                softDirty = true;
                return v;
            }
        }
        return null;
    }

    private boolean isFree(int start, int end) {
        for (Vma v : areas) {
            if (v.start < end && start < v.end) {
                return false;
            }
        }
        return true;
    }

    /** @return whether some area overlaps pages {@code [start, end)} */
    boolean overlaps(int start, int end) {
        return !isFree(start, end);
    }

    /**
     * @return the start of the first gap of {@code length} pages below the small areas' limit at
     *     or after a random hint, or else the first from the bottom; -1 when no gap is large enough
     */
    int findGap(int length, SplittableRandom rng) {
        int hint = rng.nextInt(smallLimit);
        int start = firstFit(hint, length);
        return start >= 0 ? start : firstFit(0, length);
    }

    private int firstFit(int from, int length) {
        int cursor = from;
        for (Vma v : areas) {
            if (v.end <= cursor) {
                continue;
            }
            if (v.start - cursor >= length) {
                break;
            }
            cursor = Math.max(cursor, v.end);
        }
        return cursor + length <= smallLimit ? cursor : -1;
    }

    /** Inserts an area exactly as given. */
    void insert(Vma v) {
        if (v.start < 0 || v.end > pages || v.start >= v.end) {
            throw new IllegalArgumentException("bad area " + v);
        }
        Vma[] a = areas;
        int i = firstEndingAfter(a, v.start);
        if (i < a.length && a[i].start < v.end) {
            throw new IllegalArgumentException(v + " overlaps an existing area " + a[i]);
        }
        splice(a, i, i, v, null, null);
    }

    /**
     * Removes pages {@code [start, end)} from every area, splitting areas at the edges.
     *
     * @throws IllegalArgumentException if the range is empty or reversed; nothing changes
     */
    void unmap(int start, int end) {
        checkRange("unmap", start, end);
        Vma[] a = areas;
        int i = firstEndingAfter(a, start);
        int j = firstStartingAtOrAfter(a, i, end);
        if (i == j) {
            return; // nothing mapped there
        }
        Vma first = a[i];
        Vma last = a[j - 1];
        splice(a, i, j, first.start < start ? new Vma(first.start, start, first.prot) : null,
                last.end > end ? new Vma(end, last.end, last.prot) : null, null);
    }

    /**
     * Sets the protection of pages {@code [start, end)} that are mapped, splitting at the edges.
     *
     * @throws IllegalArgumentException if the range is empty or reversed; nothing changes
     */
    void protect(int start, int end, int prot) {
        checkRange("protect", start, end);
        Vma[] a = areas;
        int i = firstEndingAfter(a, start);
        int j = firstStartingAtOrAfter(a, i, end);
        if (i == j) {
            return; // nothing mapped there
        }
        // Only the first area can keep a part before the range and only the last one a part after
        // it (the others lie inside the range): at most two areas more than before.
        Vma[] out = new Vma[a.length + 2];
        System.arraycopy(a, 0, out, 0, i);
        int n = i;
        for (int k = i; k < j; k++) { // the areas overlapping the range
            Vma v = a[k];
            if (v.start < start) {
                n = append(out, n, new Vma(v.start, start, v.prot));
            }
            n = append(out, n, new Vma(Math.max(v.start, start), Math.min(v.end, end), prot));
            if (v.end > end) {
                n = append(out, n, new Vma(end, v.end, v.prot));
            }
        }
        install(a, j, out, n);
    }

    private static void checkRange(String op, int start, int end) {
        if (start >= end) {
            throw new IllegalArgumentException(op + " of an empty or reversed range [" + start + ", " + end + ")");
        }
    }

    /** @return the index of the first area of {@code a} that ends after {@code page} ({@code a.length} if none) */
    private static int firstEndingAfter(Vma[] a, int page) {
        int lo = 0;
        int hi = a.length;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (a[mid].end <= page) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }

    /** @return the index of the first area of {@code a}, from {@code from} on, that starts at or after {@code page} */
    private static int firstStartingAtOrAfter(Vma[] a, int from, int page) {
        int lo = from;
        int hi = a.length;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (a[mid].start < page) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }

    /**
     * Installs {@code a} with its areas {@code [i, j)} replaced by the non-null ones of {@code x},
     * {@code y}, {@code z} (sorted, between {@code a[i - 1]} and {@code a[j]}), merging where they
     * touch an area of the same protection.
     */
    private void splice(Vma[] a, int i, int j, Vma x, Vma y, Vma z) {
        Vma[] out = new Vma[a.length - (j - i) + 3];
        System.arraycopy(a, 0, out, 0, i);
        int n = i;
        if (x != null) {
            n = append(out, n, x);
        }
        if (y != null) {
            n = append(out, n, y);
        }
        if (z != null) {
            n = append(out, n, z);
        }
        install(a, j, out, n);
    }

    /**
     * Appends {@code a[j..]} to the first {@code n} areas of {@code out} (which has room for them)
     * and installs the result. Only {@code a[j]} may merge with what precedes it: the areas after
     * it were already merged.
     */
    private void install(Vma[] a, int j, Vma[] out, int n) {
        if (j < a.length) {
            n = append(out, n, a[j]);
            int rest = a.length - j - 1;
            System.arraycopy(a, j + 1, out, n, rest);
            n += rest;
        }
        areas = n == out.length ? out : Arrays.copyOf(out, n);
    }

    /**
     * Appends {@code v} after the first {@code n} areas of {@code out}, merged with the last of
     * them if it touches it with the same protection (as {@code vma_merge} does).
     *
     * @return the new number of areas in {@code out}
     */
    private static int append(Vma[] out, int n, Vma v) {
        if (n > 0 && out[n - 1].end == v.start && out[n - 1].prot == v.prot) {
            out[n - 1] = new Vma(out[n - 1].start, v.end, v.prot);
            return n;
        }
        out[n] = v;
        return n + 1;
    }
}
