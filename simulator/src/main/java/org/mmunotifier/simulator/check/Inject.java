package org.mmunotifier.simulator.check;

import org.mmunotifier.simulator.SimConfig;

/**
 * Deliberate driver bugs, the checker's negative controls: with each, the run must report
 * violations and exit with 1.
 */
public enum Inject {
    /** A correct run. */
    NONE("none"),
    /** The GPU driver ignores invalidateRangeStart/End: its mirror keeps stale translations. */
    SKIP_INVALIDATION("skip-invalidation"),
    /**
     * The GPU driver frees its per-mm state as soon as it drops its last reference, without
     * waiting for a grace period (the legacy {@code mmu_notifier_unregister_no_release} + kfree
     * pattern of §4): a callback that is running at that moment uses freed state.
     */
    FREE_WITHOUT_GRACE_PERIOD("free-without-grace-period"),
    /**
     * The accel driver unloads without putting its references: its notifiers stay linked, so its
     * callbacks run after the unload, and they are never freed (notifier and mm count leaks).
     */
    UNLOAD_WITHOUT_PUT("unload-without-put"),
    /**
     * The IOMMU driver ignores {@code invalidateRange}: its device TLB keeps translations of
     * pages the kernel has unmapped and freed. {@code invalidate_range} exists for exactly this
     * (0f0a327fa12c, "mmu_notifier: add the callback for mmu_notifier_invalidate_range()",
     * 3.19): an ATS TLB must be flushed after the entries change and before the pages are freed.
     */
    IOMMU_IGNORES_INVALIDATE_RANGE("iommu-ignores-invalidate-range"),
    /**
     * The KVM driver's fault path checks the invalidation count and sequence before it takes
     * the mirror lock instead of under it, then installs: an invalidation that starts between
     * the check and the install is missed, and a stale translation is installed. Linux's
     * {@code mmu_notifier_retry} is called under {@code kvm->mmu_lock} for this reason; the
     * barriers that let it run outside the lock came with a355aa54f1d2 ("KVM: Add barriers to
     * allow mmu_notifier_retry to be used locklessly").
     */
    KVM_RETRY_CHECK_BEFORE_LOCK("kvm-retry-check-before-lock"),
    /**
     * The GPU driver ignores the range's blockable flag: in a non-blockable start (the OOM
     * reaper's) it takes its mirror lock as a sleeping lock ({@code mutex_lock}), where it must
     * try the lock and refuse when it is busy. The flag and the refusal came with 93065ac753e4
     * ("mm, oom: distinguish blockable mode for mmu notifiers", 4.19), which let the OOM reaper
     * call notifiers at all; a driver that sleeps there can stall the reaper behind the very
     * task that is waiting for memory. The might-sleep check of the library refuses the blocking
     * call in that atomic context; the driver reports it.
     */
    OOM_REAPER_BLOCKING("oom-reaper-blocking"),
    /**
     * The simulated kernel's KSM merge calls {@code set_pte_at_notify} without the
     * {@code invalidate_range_start}/{@code end} bracket around it, as KSM did before
     * 6bdb913f0a70 ("mm: wrap calls to set_pte_at_notify with invalidate_range_start and
     * invalidate_range_end", 3.7): only {@code changePte} is called, so a secondary MMU that
     * relies on the bracket (the GPU, KVM and accel mirrors) keeps its translation of a page that
     * was write-protected and then replaced. A kernel bug, not a driver's: it needs KSM in the mix
     * ({@code --weight-ksm} above 0).
     */
    KSM_WITHOUT_BRACKET("ksm-without-bracket"),
    /**
     * The simulated kernel's OOM reaper runs Linux 5.4's non-blocking start with its bug: when one
     * notifier refuses, the others whose start succeeded never get their end, as before
     * c2655835fd8c ("mm/mmu_notifiers: ensure range_end() is paired with range_start()", 5.12).
     * A sequence-count mirror (KVM's {@code mmu_notifier_count}) keeps its count raised, and its
     * faults retry until the mm dies. A kernel bug: it needs OOM kills in the mix and a start
     * refused, which is a race.
     */
    OOM_REAPER_UNPAIRED_END("oom-reaper-unpaired-end");

    final String cliName;

    Inject(String cliName) {
        this.cliName = cliName;
    }

    public static Inject parse(String s) {
        for (Inject i : values()) {
            if (i.cliName.equals(s) || i.name().equalsIgnoreCase(s)) {
                return i;
            }
        }
        throw new IllegalArgumentException("unknown fault injection '" + s
                + "' (expected one of: none, skip-invalidation, free-without-grace-period, unload-without-put, "
                + "iommu-ignores-invalidate-range, kvm-retry-check-before-lock, oom-reaper-blocking, "
                + "ksm-without-bracket, oom-reaper-unpaired-end)");
    }

    /** @return the driver the bug is planted in, or null for {@link #NONE} */
    public SimConfig.Driver driver() {
        return switch (this) {
            case NONE -> null;
            case SKIP_INVALIDATION, FREE_WITHOUT_GRACE_PERIOD, OOM_REAPER_BLOCKING, KSM_WITHOUT_BRACKET -> SimConfig.Driver.GPU;
            case UNLOAD_WITHOUT_PUT -> SimConfig.Driver.ACCEL;
            case IOMMU_IGNORES_INVALIDATE_RANGE -> SimConfig.Driver.IOMMU;
            case KVM_RETRY_CHECK_BEFORE_LOCK, OOM_REAPER_UNPAIRED_END -> SimConfig.Driver.KVM;
        };
    }

    /** @return one line for {@code --list} */
    public String description() {
        return switch (this) {
            case NONE -> "a correct run";
            case SKIP_INVALIDATION -> "the gpu driver ignores invalidateRangeStart/End";
            case FREE_WITHOUT_GRACE_PERIOD -> "the gpu driver frees its state without a grace period (6d7c3cde93c1)";
            case UNLOAD_WITHOUT_PUT -> "the accel driver unloads without putting its references";
            case IOMMU_IGNORES_INVALIDATE_RANGE -> "the iommu driver never flushes its TLB (0f0a327fa12c)";
            case KVM_RETRY_CHECK_BEFORE_LOCK -> "the kvm fault path checks the sequence before its lock (a355aa54f1d2)";
            case OOM_REAPER_BLOCKING -> "the gpu driver sleeps in the OOM reaper's non-blockable start (93065ac753e4)";
            case KSM_WITHOUT_BRACKET -> "KSM calls changePte without its start/end bracket (6bdb913f0a70); needs --weight-ksm";
            case OOM_REAPER_UNPAIRED_END -> "the OOM reaper leaves started notifiers without their end (c2655835fd8c); needs --weight-oom-kill";
        };
    }

    @Override
    public String toString() {
        return cliName;
    }
}
