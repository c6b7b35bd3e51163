package org.mmunotifier.simulator.kernel;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A process's page table: virtual page number to frame, with write permission, young (accessed)
 * and dirty bits, changed only under one page-table lock ({@code mm->page_table_lock}).
 *
 * <p>Writers hold {@link #lock()}; the methods whose names end in {@code Locked} assert it. Two
 * kinds of reader need no lock, as in the kernel: a device that walks the table itself (an ATS
 * IOMMU), through {@link #read}, and the checker's {@link #validate}, which a device calls while
 * it holds only its own TLB lock.
 *
 * <p><b>The stale window.</b> Linux 5.4 clears or write-protects an entry under the lock and
 * flushes the secondary TLBs later ({@code invalidate_range} from the mmu_gather after the lock
 * is dropped, or from {@code invalidate_range_end}); the old frame is freed only after that
 * flush. Until then a secondary TLB may still use the old translation: the kernel allows it, as
 * it allows a CPU's stale TLB entry. {@link #markStaleLocked} records the old translation of an
 * entry when the kernel changes it without flushing at once and returns the window's token (the
 * old translation); {@link #unmarkStaleLocked} with that token ends the window after the flush.
 * {@link #validate} answers {@link Verdict#WINDOW} for a use of exactly that old translation
 * inside the window, and a violation after it.
 *
 * <p>An entry may have several windows open at once, each closed by the operation that opened
 * it: an entry cleared by a zap under the mmap read lock ({@code MADV_DONTNEED}) can be refilled
 * by a page fault and changed again (reclaimed, cleaned) before the zap's flush, and then both
 * old translations are in their windows. Windows on one translation nest (fork's write-protect,
 * then reclaim's unmap of the same page, each closed after its own flush).
 */
public final class PageTable {
    /*
     * Encoding of pte[v] (a long, so that a lock-free reader sees one consistent entry):
     *   0                       not present
     *   bits 0..31              frame + 1
     *   bits 32..39             flags: WRITE 1, YOUNG 2, DIRTY 4, REFERENCED 8, SOFT_DIRTY 16
     *   bit 40 MIGRATION        a migration entry (not present; a fault on it waits): the frame
     *                           bits name the page being migrated
     * A window's token is its old translation:
     *   bits 0..31              frame + 1
     *   bit 32                  whether it allowed writes
     * Encoding of stale[v], the first token of v's open windows:
     *   0                       no window (in this slot)
     *   bits 0..32              the token
     *   bits 33..40             how many windows with this token are open
     * Windows of v with another token than stale[v]'s ("spilled"): spill maps (v << 33 | token) to
     * their count, and spilled[v] counts them, so that a reader looks into the map only for a page
     * that has some. Every window is one count in exactly one of the two places, and unmarking takes
     * it from whichever holds its token.
     *
     * A present page without WRITE in a writable area is copy-on-write: a write fault either
     * reuses the frame (map count 1) or copies it.
     *
     * Guards
     * ------
     *   pmd[b]                      written under ptl (release stores); read under ptl, or without
     *                               it by pmdUnlocked (acquire), a hint rechecked under ptl
     *   pte[v], stale[v], spilled[v], spill, present
     *                               written under ptl; pte, stale, spilled and spill read under ptl,
     *                               or without it with acquire loads (read, validate; spill is a
     *                               concurrent map)
     * Ordering: a change that opens a window stores stale[v], or the spill entry and spilled[v]
     * (release), before pte[v] (release); a lock-free reader loads pte[v] (acquire), then stale[v]
     * and spilled[v] (acquire), then the spill map, so a reader that sees the new entry also sees
     * the window. A window is closed only after the secondary flush, and the old frame is freed
     * only after that.
     */

    public static final int WRITE = 1;
    static final int YOUNG = 2;
    static final int DIRTY = 4;
    /** The soft-dirty bit: cleared by {@code clear_refs}; set again by the next write. */
    static final int SOFT_DIRTY = 16;
    /** What a write sets: {@code pte_mkdirty} sets the dirty and the soft-dirty bits. */
    static final int DIRTIED = DIRTY | SOFT_DIRTY;
    /** PG_referenced: found young by aging or a young callback; spares the page one reclaim scan. */
    static final int REFERENCED = 8;
    private static final long MIGRATION = 1L << 40;
    private static final long STALE_WRITE = 1L << 32;
    private static final long STALE_ONE = 1L << 33;
    private static final long STALE_COUNT = 0xffL << 33;
    private static final long TOKEN = (1L << 33) - 1;

    /** {@code HPAGE_PMD_NR} on x86-64: the pages of one huge page, and of one PMD's block. */
    public static final int HPAGE_PAGES = 512;
    /** A block's PMD: no page table ({@code pmd_none}); the next fault there may map a huge page. */
    public static final byte PMD_NONE = 0;
    /** A block's PMD points to a table of page entries. */
    public static final byte PMD_TABLE = 1;
    /** A block's PMD maps one huge page: its {@value #HPAGE_PAGES} entries change together. */
    public static final byte PMD_HUGE = 2;

    /** What a validation found: {@link #OK} and {@link #WINDOW} are allowed, the rest violations. */
    public enum Verdict {
        OK,
        /** a stale translation used inside the window 5.4 allows (old frame not yet freed) */
        WINDOW,
        NOT_PRESENT, OTHER_FRAME, STALE_GENERATION, WRITE_NOT_ALLOWED
    }

    private final FrameAllocator frames;
    private final String owner;
    private final long[] pte;
    private final long[] stale;
    private final int[] spilled;
    /** Created by the first spilled window; see Guards. */
    private volatile ConcurrentHashMap<Long, Integer> spill;
    private int present;
    /**
     * The PMD of each block of {@value #HPAGE_PAGES} pages: {@link #PMD_NONE}, {@link #PMD_TABLE}
     * or {@link #PMD_HUGE}. A huge block's entries stay one per page here (each names its
     * subpage's frame), so every reader and the checker work unchanged; the state says only that
     * the kernel treats the block as one mapping. Guarded by ptl.
     */
    private final byte[] pmd;
    private final ReentrantLock ptl = new ReentrantLock();

    public PageTable(FrameAllocator frames, int pages) {
        this(frames, pages, "a page table");
    }

    /**
     * @param owner names the address space in the checker's messages ("pid 12")
     */
    public PageTable(FrameAllocator frames, int pages, String owner) {
        this.owner = owner;
        this.frames = frames;
        this.pte = new long[pages];
        this.stale = new long[pages];
        this.spilled = new int[pages];
        this.pmd = new byte[(pages + HPAGE_PAGES - 1) / HPAGE_PAGES];
    }

    /** @return the block of {@code vpage}: the index of its PMD */
    public static int blockOf(int vpage) {
        return vpage / HPAGE_PAGES;
    }

    /** @return the first page of block {@code b} */
    public static int blockStart(int b) {
        return b * HPAGE_PAGES;
    }

    /** @return the state of block {@code b}'s PMD: {@link #PMD_NONE}, {@link #PMD_TABLE} or {@link #PMD_HUGE} */
    public byte pmdLocked(int b) {
        assertLocked();
        return pmd[b];
    }

    /**
     * Sets block {@code b}'s PMD. {@link #PMD_HUGE} needs every entry of a whole block present;
     * {@link #PMD_NONE} needs every entry empty (no page, no migration entry).
     */
    void setPmdLocked(int b, byte state) {
        assertLocked();
        if (state == PMD_HUGE || state == PMD_NONE) {
            int from = blockStart(b);
            if (from + HPAGE_PAGES > pte.length) {
                throw new IllegalStateException("block " + b + " is not a whole block of " + HPAGE_PAGES + " pages");
            }
            for (int v = from; v < from + HPAGE_PAGES; v++) {
                if (state == PMD_HUGE ? !isPresent(pte[v]) : pte[v] != 0) {
                    throw new IllegalStateException((state == PMD_HUGE ? "huge" : "empty") + " PMD for block " + b
                            + " but page " + v + " holds entry " + Long.toHexString(pte[v]));
                }
            }
        }
        PMD.setRelease(pmd, b, state);
    }

    /**
     * The state of block {@code b}'s PMD without the page-table lock, as the kernel's
     * {@code split_huge_pmd} tests {@code pmd_trans_huge(*pmd)} before it takes the lock: a hint
     * that may be stale at once; whoever acts on it checks again under the lock.
     */
    byte pmdUnlocked(int b) {
        return (byte) PMD.getAcquire(pmd, b);
    }

    /** @return the number of blocks (PMDs) this table has */
    public int blocks() {
        return pmd.length;
    }

    /** @return the number of virtual pages this table covers */
    public int pages() {
        return pte.length;
    }

    /** Takes the page-table lock. Pairs with {@link #unlock()}. */
    public void lock() {
        ptl.lock();
    }

    /** Drops the page-table lock. */
    public void unlock() {
        ptl.unlock();
    }

    /** @return whether {@code thread} waits for the page-table lock (tests place a race with it) */
    boolean hasQueuedThread(Thread thread) {
        return ptl.hasQueuedThread(thread);
    }

    /** @return true if the calling thread holds the page-table lock */
    boolean lockedByCurrentThread() {
        return ptl.isHeldByCurrentThread();
    }

    private void assertLocked() {
        if (!ptl.isHeldByCurrentThread()) {
            throw new IllegalStateException("page-table lock not held by " + Thread.currentThread().getName());
        }
    }

    private static long entry(int f, int flagBits) {
        return (f + 1L) | ((long) (flagBits & 0xff) << 32);
    }

    private static int frameOf(long e) {
        return (int) (e & 0xffff_ffffL) - 1;
    }

    private static boolean isPresent(long e) {
        return e != 0 && (e & MIGRATION) == 0;
    }

    private void store(int vpage, long e) {
        PTE.setRelease(pte, vpage, e);
    }

    /** @return the frame mapped at {@code vpage}, or -1 (also for a migration entry) */
    public int frameLocked(int vpage) {
        assertLocked();
        long e = pte[vpage];
        return isPresent(e) ? frameOf(e) : -1;
    }

    /** @return the flag bits of {@code vpage} (meaningless when not present) */
    public int flagsLocked(int vpage) {
        assertLocked();
        return (int) (pte[vpage] >>> 32) & 0xff;
    }

    /** @return whether {@code vpage} holds a migration entry */
    boolean migrationEntryLocked(int vpage) {
        assertLocked();
        return (pte[vpage] & MIGRATION) != 0;
    }

    /** @return the frame that the migration entry at {@code vpage} names, or -1 if it holds none */
    int migrationFrameLocked(int vpage) {
        assertLocked();
        long e = pte[vpage];
        return (e & MIGRATION) != 0 ? frameOf(e) : -1;
    }

    /** @return the number of present entries */
    int presentLocked() {
        assertLocked();
        return present;
    }

    /**
     * A lock-free read of one entry, as a device's page walk reads it.
     *
     * @return {@code frame | flags << 32} of a present entry, or -1 if not present (or migrating)
     */
    public long read(int vpage) {
        long e = (long) PTE.getAcquire(pte, vpage);
        return isPresent(e) ? (frameOf(e) & 0xffff_ffffL) | (e & 0xff_0000_0000L) : -1;
    }

    /** @return the frame of a value from {@link #read} */
    public static int readFrame(long r) {
        return (int) r;
    }

    /** @return whether a value from {@link #read} allows writes */
    public static boolean readWritable(long r) {
        return ((r >>> 32) & WRITE) != 0;
    }

    /** Maps a frame at a page that is not present; the caller already holds the frame's mapping. */
    public void mapLocked(int vpage, int f, int flagBits) {
        assertLocked();
        if (pte[vpage] != 0) {
            throw new IllegalStateException("page " + vpage + " is already mapped (entry " + Long.toHexString(pte[vpage])
                    + ")");
        }
        store(vpage, entry(f, flagBits));
        present++;
        if (pmd[blockOf(vpage)] == PMD_NONE) {
            PMD.setRelease(pmd, blockOf(vpage), PMD_TABLE); // pte_alloc
        }
    }

    /** Points a present page at another frame (the strict order's copy-on-write and migration). */
    void replaceLocked(int vpage, int f, int flagBits) {
        assertLocked();
        if (!isPresent(pte[vpage])) {
            throw new IllegalStateException("page " + vpage + " is not present");
        }
        store(vpage, entry(f, flagBits));
    }

    /** Changes the flags of a present page. */
    void setFlagsLocked(int vpage, int flagBits) {
        assertLocked();
        long e = pte[vpage];
        if (!isPresent(e)) {
            throw new IllegalStateException("page " + vpage + " is not present");
        }
        store(vpage, entry(frameOf(e), flagBits));
    }

    /**
     * Clears a present page. The caller drops the frame's mapping with
     * {@link FrameAllocator#put(int)} once secondary MMUs have been told.
     *
     * @return the frame that was mapped
     */
    int clearLocked(int vpage) {
        assertLocked();
        long e = pte[vpage];
        if (!isPresent(e)) {
            throw new IllegalStateException("page " + vpage + " is not present");
        }
        store(vpage, 0);
        present--;
        return frameOf(e);
    }

    /**
     * Replaces a present page by a migration entry for its frame (try_to_unmap_one with
     * TTU_MIGRATION). The page counts as not present until {@link #removeMigrationLocked}.
     *
     * @return the frame that was mapped
     */
    int installMigrationLocked(int vpage) {
        assertLocked();
        long e = pte[vpage];
        if (!isPresent(e)) {
            throw new IllegalStateException("page " + vpage + " is not present");
        }
        store(vpage, MIGRATION | (e & 0xff_ffff_ffffL));
        present--;
        return frameOf(e);
    }

    /**
     * Clears a migration entry, as {@code zap_pte_range} drops one: the migration, which still
     * holds the page, then finds the entry gone and installs nothing.
     */
    void clearMigrationLocked(int vpage) {
        assertLocked();
        if ((pte[vpage] & MIGRATION) == 0) {
            throw new IllegalStateException("page " + vpage + " holds no migration entry");
        }
        store(vpage, 0);
    }

    /**
     * Replaces a migration entry by a present entry for {@code f} with the old flags
     * (remove_migration_pte): the new frame, or the old one if the migration failed.
     */
    void removeMigrationLocked(int vpage, int f) {
        assertLocked();
        long e = pte[vpage];
        if ((e & MIGRATION) == 0) {
            throw new IllegalStateException("page " + vpage + " holds no migration entry");
        }
        store(vpage, entry(f, (int) (e >>> 32) & 0xff));
        present++;
    }

    /**
     * Opens a stale window on {@code vpage}: its current translation may still be used by a
     * secondary TLB until the matching {@link #unmarkStaleLocked}. Call before changing the
     * entry, and keep the token to close the window after the flush that covers it.
     *
     * @return the window's token: the entry's translation now (frame and write permission)
     */
    long markStaleLocked(int vpage) {
        assertLocked();
        long e = pte[vpage];
        if (!isPresent(e)) {
            throw new IllegalStateException("page " + vpage + " is not present");
        }
        long token = (frameOf(e) + 1L) | ((e >>> 32 & WRITE) != 0 ? STALE_WRITE : 0);
        long w = stale[vpage];
        if (w == 0) {
            STALE.setRelease(stale, vpage, token | STALE_ONE); // before the change of pte[vpage]
        } else if ((w & TOKEN) == token) {
            STALE.setRelease(stale, vpage, w + STALE_ONE);
        } else {
            ConcurrentHashMap<Long, Integer> m = spill;
            if (m == null) {
                m = new ConcurrentHashMap<>();
                spill = m;
            }
            m.merge(spillKey(vpage, token), 1, Integer::sum);
            SPILLED.setRelease(spilled, vpage, spilled[vpage] + 1);
        }
        return token;
    }

    /**
     * Closes one stale window of {@code vpage}, after the secondary flush.
     *
     * @param token what {@link #markStaleLocked} returned when the window opened
     * @throws IllegalStateException if no window with that token is open
     */
    void unmarkStaleLocked(int vpage, long token) {
        assertLocked();
        long w = stale[vpage];
        if (w != 0 && (w & TOKEN) == token) {
            w -= STALE_ONE;
            STALE.setRelease(stale, vpage, (w & STALE_COUNT) == 0 ? 0L : w);
            return;
        }
        ConcurrentHashMap<Long, Integer> m = spill;
        Long key = spillKey(vpage, token);
        if (m == null || !m.containsKey(key)) {
            throw new IllegalStateException("page " + vpage + " has no open stale window on frame "
                    + tokenFrame(token));
        }
        m.computeIfPresent(key, (k, n) -> n == 1 ? null : n - 1);
        SPILLED.setRelease(spilled, vpage, spilled[vpage] - 1);
    }

    private static long spillKey(int vpage, long token) {
        return (long) vpage << 33 | token;
    }

    /** @return the frame of a window's token */
    static int tokenFrame(long token) {
        return (int) (token & 0xffff_ffffL) - 1;
    }

    /** @return whether {@code vpage} has an open stale window */
    boolean staleLocked(int vpage) {
        assertLocked();
        return stale[vpage] != 0 || spilled[vpage] != 0;
    }

    /** @return the address space's name in messages ("pid 12") */
    public String owner() {
        return owner;
    }

    /**
     * What the primary maps at {@code vpage} now, for a message: "frame F generation G
     * (writable)", "a migration entry", or "nothing". A racy read, for diagnostics only.
     */
    public String describeEntry(int vpage) {
        long e = (long) PTE.getAcquire(pte, vpage);
        if (e == 0) {
            return "nothing";
        }
        if ((e & MIGRATION) != 0) {
            return "a migration entry";
        }
        int f = frameOf(e);
        return "frame " + f + " generation " + frames.generation(f) + ((e >>> 32 & WRITE) != 0 ? " (writable)" : " (read-only)");
    }

    /** {@link #validate}, by a caller that holds the page-table lock. */
    public Verdict validateLocked(int vpage, int f, int gen, boolean write) {
        assertLocked();
        return validate(vpage, f, gen, write);
    }

    /**
     * Checks a secondary MMU's cached translation against this table now. Needs no lock: a
     * device calls it under its own TLB lock, which the secondary flush also takes, so the
     * window it may find open cannot close during the call.
     *
     * @param vpage the virtual page the secondary accessed
     * @param f the frame its translation points to
     * @param gen the frame's generation when the translation was made
     * @param write whether the access writes
     */
    public Verdict validate(int vpage, int f, int gen, boolean write) {
        long e = (long) PTE.getAcquire(pte, vpage);
        Verdict v;
        if (!isPresent(e)) {
            v = Verdict.NOT_PRESENT;
        } else if (frameOf(e) != f) {
            v = Verdict.OTHER_FRAME;
        } else if (frames.generation(f) != gen) {
            return Verdict.STALE_GENERATION; // freed and reused: never allowed
        } else if (write && (e >>> 32 & WRITE) == 0) {
            v = Verdict.WRITE_NOT_ALLOWED;
        } else {
            return Verdict.OK;
        }
        if (frames.generation(f) != gen) {
            return v; // no window covers another generation: the frame is held while one is open
        }
        long w = (long) STALE.getAcquire(stale, vpage);
        if (w != 0 && frameOf(w) == f && (!write || (w & STALE_WRITE) != 0)) {
            return Verdict.WINDOW;
        }
        if ((int) SPILLED.getAcquire(spilled, vpage) != 0) {
            ConcurrentHashMap<Long, Integer> m = spill;
            long token = f + 1L;
            if (m != null && (m.containsKey(spillKey(vpage, token | STALE_WRITE))
                    || !write && m.containsKey(spillKey(vpage, token)))) {
                return Verdict.WINDOW;
            }
        }
        return v;
    }

    private static final VarHandle PTE = MethodHandles.arrayElementVarHandle(long[].class);
    private static final VarHandle STALE = MethodHandles.arrayElementVarHandle(long[].class);
    private static final VarHandle SPILLED = MethodHandles.arrayElementVarHandle(int[].class);
    private static final VarHandle PMD = MethodHandles.arrayElementVarHandle(byte[].class);
}
