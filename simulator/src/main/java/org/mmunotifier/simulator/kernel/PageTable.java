package org.mmunotifier.simulator.kernel;

import java.util.concurrent.locks.ReentrantLock;

/**
 * A process's page table: virtual page number to frame, with write permission, young (accessed)
 * and dirty bits, all under one page-table lock ({@code mm->page_table_lock}).
 *
 * <p>Every read and write of an entry needs {@link #lock()} held by the calling thread; the
 * methods whose names end in {@code Locked} assert it. Secondary MMUs validate their cached
 * translations against this table under the same lock, which is what makes the checker's verdict
 * race-free: a primary change and a validation can never interleave.
 */
public final class PageTable {
    /*
     * Encoding
     * --------
     *   frame[v]   -1: not present; otherwise the frame number
     *   flags[v]   bit 0 WRITE   the primary may write through this entry
     *              bit 1 YOUNG   accessed since the bit was last cleared
     *              bit 2 DIRTY   written since mapped
     *   A present page without WRITE in a writable area is copy-on-write: a write fault either
     *   reuses the frame (map count 1) or copies it.
     *
     * Guards
     * ------
     *   frame, flags, present    ptl
     */

    public static final int WRITE = 1;
    static final int YOUNG = 2;
    static final int DIRTY = 4;

    /** What a validation found; {@link #OK} is the only good answer. */
    public enum Verdict {
        OK, NOT_PRESENT, OTHER_FRAME, STALE_GENERATION, WRITE_NOT_ALLOWED
    }

    private final FrameAllocator frames;
    private final int[] frame;
    private final byte[] flags;
    private int present;
    private final ReentrantLock ptl = new ReentrantLock();

    public PageTable(FrameAllocator frames, int pages) {
        this.frames = frames;
        this.frame = new int[pages];
        this.flags = new byte[pages];
        java.util.Arrays.fill(frame, -1);
    }

    /** @return the number of virtual pages this table covers */
    public int pages() {
        return frame.length;
    }

    /** Takes the page-table lock. Pairs with {@link #unlock()}. */
    public void lock() {
        ptl.lock();
    }

    /** Drops the page-table lock. */
    public void unlock() {
        ptl.unlock();
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

    /** @return the frame mapped at {@code vpage}, or -1 */
    public int frameLocked(int vpage) {
        assertLocked();
        return frame[vpage];
    }

    /** @return the flag bits of {@code vpage} (meaningless when not present) */
    public int flagsLocked(int vpage) {
        assertLocked();
        return flags[vpage];
    }

    /** @return the number of present entries */
    int presentLocked() {
        assertLocked();
        return present;
    }

    /** Maps a frame at a page that is not present; the caller already holds the frame's mapping. */
    public void mapLocked(int vpage, int f, int flagBits) {
        assertLocked();
        if (frame[vpage] >= 0) {
            throw new IllegalStateException("page " + vpage + " is already mapped to frame " + frame[vpage]);
        }
        frame[vpage] = f;
        flags[vpage] = (byte) flagBits;
        present++;
    }

    /** Points a present page at another frame (copy-on-write break, migration). */
    void replaceLocked(int vpage, int f, int flagBits) {
        assertLocked();
        if (frame[vpage] < 0) {
            throw new IllegalStateException("page " + vpage + " is not present");
        }
        frame[vpage] = f;
        flags[vpage] = (byte) flagBits;
    }

    /** Changes the flags of a present page. */
    void setFlagsLocked(int vpage, int flagBits) {
        assertLocked();
        if (frame[vpage] < 0) {
            throw new IllegalStateException("page " + vpage + " is not present");
        }
        flags[vpage] = (byte) flagBits;
    }

    /**
     * Clears a present page. The caller drops the frame's mapping with
     * {@link FrameAllocator#put(int)} once secondary MMUs have been told.
     *
     * @return the frame that was mapped
     */
    int clearLocked(int vpage) {
        assertLocked();
        int f = frame[vpage];
        if (f < 0) {
            throw new IllegalStateException("page " + vpage + " is not present");
        }
        frame[vpage] = -1;
        flags[vpage] = 0;
        present--;
        return f;
    }

    /**
     * Checks a secondary MMU's cached translation against this table now.
     *
     * <p><b>Locking:</b> the caller holds the page-table lock, so no primary change can happen
     * during the check.
     *
     * @param vpage the virtual page the secondary accessed
     * @param f the frame its translation points to
     * @param gen the frame's generation when the translation was made
     * @param write whether the access writes
     */
    public Verdict validateLocked(int vpage, int f, int gen, boolean write) {
        assertLocked();
        int mapped = frame[vpage];
        if (mapped < 0) {
            return Verdict.NOT_PRESENT;
        }
        if (mapped != f) {
            return Verdict.OTHER_FRAME;
        }
        if (frames.generation(f) != gen) {
            return Verdict.STALE_GENERATION;
        }
        if (write && (flags[vpage] & WRITE) == 0) {
            return Verdict.WRITE_NOT_ALLOWED;
        }
        return Verdict.OK;
    }
}
