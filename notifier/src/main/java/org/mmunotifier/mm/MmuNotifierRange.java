package org.mmunotifier.mm;

import java.util.Objects;

/**
 * An address range being invalidated (Linux {@code struct mmu_notifier_range}): the mm, the
 * half-open interval {@code [start, end)}, the event, and whether the callbacks may block.
 *
 * <p>A range is the token that pairs {@link PrimaryMmu#invalidateRangeStart(MmuNotifierRange)}
 * with {@link PrimaryMmu#invalidateRangeEnd(MmuNotifierRange)}. Besides the kernel's fields it
 * remembers, between start and end, which notifiers' starts succeeded (the list snapshot taken
 * by the start): the end is delivered to exactly those, so that a notifier registered between
 * start and end never gets an end without a start, and a notifier whose start failed never gets
 * an end (Linux 5.12, c2655835fd8c, tracked per invalidation here).
 *
 * <p><b>Threads:</b> like the kernel's on-stack range, an instance is used by one invalidation at
 * a time; start and end may run on different threads if the caller hands the range over safely.
 * An ended range may be started again.
 */
public final class MmuNotifierRange {
    /*
     * State machine (the field 'state', confined to the invalidating thread):
     *
     *   NEW --start ok--> STARTED --end--> ENDED --start ok--> STARTED ...
     *     \--start failed (non-blocking -EAGAIN, or a callback threw)--> ABORTED
     *
     * 'started' holds, while STARTED, the subscription snapshot whose starts all succeeded (null
     * when the mm had no notifiers at start). It is the copy-on-write array of Subscriptions, so
     * a start allocates nothing.
     */
    static final byte NEW = 0;
    static final byte STARTED = 1;
    static final byte ENDED = 2;
    static final byte ABORTED = 3;

    private final MmStruct mm;
    private final long start;
    private final long end;
    private final MmuNotifierEvent event;
    private boolean blockable;
    private boolean hasVma;
    private boolean vmaReadable;

    /** Lifecycle, see above; confined to the invalidating thread. */
    byte state = NEW;
    /** Notifiers whose start succeeded; valid while STARTED; confined like state. */
    MmuNotifier[] started;
    /** Subscriptions.LINK_GEN read just after the start loaded its snapshot; confined like state. */
    long startGen;
    /** The interval state whose pass this range started and has not ended yet, or null; confined like state. */
    Itree itree;

    /**
     * A blockable range (Linux {@code mmu_notifier_range_init}).
     *
     * @param mm the address space
     * @param start first address of the range
     * @param end first address after the range (exclusive)
     * @param event why the range is invalidated
     * @throws NullPointerException if {@code mm} or {@code event} is null
     * @throws IllegalArgumentException unless {@code start < end} (unsigned)
     */
    public MmuNotifierRange(MmStruct mm, long start, long end, MmuNotifierEvent event) {
        this(mm, start, end, event, true);
    }

    /**
     * A range with an explicit blockable flag. Note that, as in the kernel,
     * {@link PrimaryMmu#invalidateRangeStart} sets the flag and
     * {@link PrimaryMmu#invalidateRangeStartNonblock} clears it.
     *
     * @param mm the address space
     * @param start first address of the range
     * @param end first address after the range (exclusive)
     * @param event why the range is invalidated
     * @param blockable whether callbacks may block
     * @throws NullPointerException if {@code mm} or {@code event} is null
     * @throws IllegalArgumentException unless {@code start < end} (unsigned)
     */
    public MmuNotifierRange(MmStruct mm, long start, long end, MmuNotifierEvent event, boolean blockable) {
        this.mm = Objects.requireNonNull(mm, "mm");
        this.event = Objects.requireNonNull(event, "event");
        if (Long.compareUnsigned(start, end) >= 0) {
            throw new IllegalArgumentException("empty or inverted range: start 0x" + Long.toHexString(start)
                    + " must be below end 0x" + Long.toHexString(end) + " (end is exclusive)");
        }
        this.start = start;
        this.end = end;
        this.blockable = blockable;
    }

    /**
     * Records the VMA the range lies in, for {@link #updateToReadOnly()} (the port has no VMAs;
     * this stands for {@code range->vma} being set).
     *
     * @param readable whether the VMA still has {@code VM_READ}
     * @return this range
     */
    public MmuNotifierRange withVma(boolean readable) {
        this.hasVma = true;
        this.vmaReadable = readable;
        return this;
    }

    /** @return the address space */
    public MmStruct mm() {
        return mm;
    }

    /** @return the first address of the range */
    public long start() {
        return start;
    }

    /** @return the first address after the range (exclusive) */
    public long end() {
        return end;
    }

    /** @return why the range is invalidated */
    public MmuNotifierEvent event() {
        return event;
    }

    /**
     * Whether callbacks for this range may block (Linux {@code mmu_notifier_range_blockable}). A
     * callback that would have to block on a non-blockable range returns false from
     * {@link MmuNotifierOps#invalidateRangeStart}.
     *
     * @return true if callbacks may block
     */
    public boolean blockable() {
        return blockable;
    }

    /**
     * Linux {@code mmu_notifier_range_update_to_read_only}: true only if a VMA was recorded with
     * {@link #withVma(boolean)}, the event is {@link MmuNotifierEvent#PROTECTION_VMA}, and the VMA
     * is still readable: the secondary MMU may downgrade its mappings instead of dropping them.
     *
     * @return whether the range only loses write permission
     */
    public boolean updateToReadOnly() {
        return hasVma && event == MmuNotifierEvent.PROTECTION_VMA && vmaReadable;
    }

    void setBlockable(boolean blockable) {
        this.blockable = blockable;
    }

    @Override
    public String toString() {
        return "MmuNotifierRange[" + event + " 0x" + Long.toHexString(start) + "-0x" + Long.toHexString(end)
                + (blockable ? ", blockable]" : ", non-blockable]");
    }
}
