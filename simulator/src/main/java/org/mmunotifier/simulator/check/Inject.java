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
    UNLOAD_WITHOUT_PUT("unload-without-put");

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
                + "' (expected one of: none, skip-invalidation, free-without-grace-period, unload-without-put)");
    }

    /** @return the driver the bug is planted in, or null for {@link #NONE} */
    public SimConfig.Driver driver() {
        return switch (this) {
            case NONE -> null;
            case SKIP_INVALIDATION, FREE_WITHOUT_GRACE_PERIOD -> SimConfig.Driver.GPU;
            case UNLOAD_WITHOUT_PUT -> SimConfig.Driver.ACCEL;
        };
    }

    @Override
    public String toString() {
        return cliName;
    }
}
