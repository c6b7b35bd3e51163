package org.mmunotifier.simulator;

import java.util.Arrays;
import java.util.List;

/**
 * The operations of a run: the one list that the command line, the defaults file, the workers and
 * the report are built from.
 *
 * <ul>
 *   <li>The report counts every operation, in this order: {@link #label} in the table, the
 *       lower-case constant name in the JSON. The first group are primary (CPU-side) events;
 *       {@link Stats#primaryEvents()} adds them up.</li>
 *   <li>An operation with a weight is also an <em>event</em> that a worker picks at random
 *       ({@link #events()}): its relative frequency is the option {@code --weight-KEY} and the key
 *       {@code weight-KEY} of the defaults file, and {@link Simulation} runs it. The others are
 *       what events lead to (a copy-on-write break inside a fault, a refused access) or what the
 *       run does by itself (spawn, unload).</li>
 * </ul>
 *
 * <p>Adding an event is one constant here with its weight, its key in
 * {@code simulator-defaults.properties} (the loader refuses a defaults file that lacks it), and
 * its action in {@link Simulation}'s table (a missing one fails every run as it starts).
 */
public enum Op {
    MMAP(true, "mmap", "mmap", 200, "Relative frequency of mmap."),
    MUNMAP(true, "munmap", "munmap", 200, "Relative frequency of munmap."),
    MPROTECT(true, "mprotect", "mprotect", 200, "Relative frequency of mprotect."),
    /** As an event: a CPU fault on a random page of a random area. */
    PAGE_FAULT(true, "page fault", "fault", 4100, "Relative frequency of CPU page faults."),
    COW_BREAK(true, "copy-on-write break"),
    MIGRATE(true, "page migration", "migrate", 200, "Relative frequency of page migration."),
    MREMAP(true, "mremap", "mremap", 100, "Relative frequency of mremap (MREMAP_MAYMOVE)."),
    MADV_DONTNEED(true, "madvise(MADV_DONTNEED)", "dontneed", 100, "Relative frequency of madvise(MADV_DONTNEED)."),
    /** As an event: page_mkclean of a random page; counted only when the page is mapped. */
    PAGE_MKCLEAN(true, "page_mkclean", "mkclean", 100, "Relative frequency of page_mkclean (writeback cleaning a page)."),
    SOFT_DIRTY(true, "clear_refs (soft-dirty)", "soft-dirty", 20,
            "Relative frequency of clear_refs soft-dirty clearing (write-protects the whole address space)."),
    /**
     * As an event: ksmd merges a random page with KSM's stable page; counted only for a page
     * mapped once. Off by default (weight 0): change_pte left the kernel in 6.10.
     */
    KSM_MERGE(true, "KSM merge", "ksm", 0, "Relative frequency of KSM merges (0: KSM off; change_pte left Linux in 6.10)."),
    /** A fault that mapped a whole huge page ({@code do_huge_pmd_anonymous_page}). */
    THP_FAULT(false, "huge page fault"),
    /** A huge block split into page entries ({@code __split_huge_pmd}): a CLEAR bracket with no flush. */
    THP_SPLIT(false, "huge page split"),
    /** A write to a shared huge page that copied it whole ({@code do_huge_pmd_wp_page}). */
    THP_COW(false, "huge page copy-on-write"),
    /** As an event: one scan of khugepaged in a random area, which may collapse one block. */
    THP_COLLAPSE(true, "khugepaged scan", "khugepaged", 17,
            "Relative frequency of khugepaged scans (each may collapse a 512-page block into a huge page)."),
    /** A block that khugepaged collapsed into a huge page. */
    THP_COLLAPSED(false, "huge page collapsed"),
    AGE(true, "aging (clearYoung)"),
    TEST_YOUNG(true, "testYoung"),
    RECLAIM_SCAN(true, "reclaim scan (clearFlushYoung)"),
    /**
     * Counts the pages reclaimed. As an event: one inline reclaim step (aging, an idle test or a
     * scan that may reclaim pages), picked only with one worker; with more, kswapd reclaims.
     */
    RECLAIM(true, "page reclaimed", "reclaim", 300, "Relative frequency of inline reclaim (one thread only)."),
    FORK(true, "fork", "fork", 1, "Relative frequency of fork."),
    SPAWN(true, "spawn"),
    EXIT(true, "exit", "exit", 1, "Relative frequency of exit."),
    /** As an event: the OOM killer kills a process, the OOM reaper reaps it, then it exits. */
    OOM_KILL(true, "OOM kill (reaped, then exit)", "oom-kill", 1,
            "Relative frequency of OOM kills (the OOM reaper tears the victim down with non-blocking invalidations)."),
    /** An area the OOM reaper skipped because a notifier refused its non-blocking start. */
    OOM_REAP_SKIP(false, "OOM reaper: area skipped (start refused)"),
    /** A try of the OOM reaper that left something to do: it sleeps and tries again. */
    OOM_REAP_RETRY(false, "OOM reaper: try again later"),
    /** The OOM reaper gave up after its last try ("unable to reap"). */
    OOM_REAP_GAVE_UP(false, "OOM reaper: gave up"),
    SEGV(false, "fault refused (no area or permission)"),
    SIGBUS(false, "fault refused (reaped by the OOM reaper)"),
    OOM(false, "fault refused (no free frame)"),
    ATTACH(false, "secondary attach", "attach", 180, "Relative frequency of device attach (get/register)."),
    DETACH(false, "secondary detach", "detach", 180, "Relative frequency of device detach (put/unregister)."),
    ACCESS(false, "secondary access", "access", 4100, "Relative frequency of secondary accesses."),
    ACCESS_REFUSED(false, "secondary access refused"),
    UNLOAD(false, "driver unload");

    /** The prefix of an event's option and defaults-file key. */
    static final String WEIGHT_PREFIX = "weight-";

    private static final List<Op> EVENTS = Arrays.stream(values()).filter(Op::isEvent).toList();

    /** Whether the operation counts as a primary (CPU-side) event in the throughput. */
    final boolean primary;
    /** The operation's line in the report's table. */
    final String label;
    /** The event's name in its option and key ({@code fault}), or null if it is not an event. */
    private final String eventName;
    /** The event's weight in the shipped defaults, for {@link SimConfig#defaults()}. */
    private final int defaultWeight;
    /** The event's option description in {@code --help}. */
    private final String description;

    Op(boolean primary, String label) {
        this(primary, label, null, 0, null);
    }

    Op(boolean primary, String label, String eventName, int defaultWeight, String description) {
        this.primary = primary;
        this.label = label;
        this.eventName = eventName;
        this.defaultWeight = defaultWeight;
        this.description = description;
    }

    /** @return the events a worker picks from, in declaration order */
    static List<Op> events() {
        return EVENTS;
    }

    /** @return whether a worker picks this operation as an event, with a weight */
    boolean isEvent() {
        return eventName != null;
    }

    /** @return the event's key in the defaults file and a configuration file ({@code weight-fault}) */
    String weightKey() {
        return WEIGHT_PREFIX + requireEvent();
    }

    /** @return the event's command-line option ({@code --weight-fault}) */
    String weightOption() {
        return "--" + weightKey();
    }

    /** @return the event's weight in the shipped defaults */
    int defaultWeight() {
        requireEvent();
        return defaultWeight;
    }

    /** @return the event's option description */
    String description() {
        requireEvent();
        return description;
    }

    private String requireEvent() {
        if (eventName == null) {
            throw new IllegalStateException(this + " is not an event: it has no weight");
        }
        return eventName;
    }
}
