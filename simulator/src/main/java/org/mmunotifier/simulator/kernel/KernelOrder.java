package org.mmunotifier.simulator.kernel;

/**
 * Which order the simulated kernel makes its notifier calls and TLB flushes in.
 */
public enum KernelOrder {
    /**
     * Linux 5.4's own order (the default): the mmu_gather flushes the secondary TLBs
     * ({@code invalidateRange}) after the page-table lock is dropped and before the pages are
     * freed; mprotect, fork and migration leave that flush to the full {@code invalidateRangeEnd};
     * a copy-on-write break calls {@code invalidateRange} and then {@code changePte}; migration
     * goes through migration entries; KSM and the copy-on-write break clear the entry before
     * {@code changePte}. A secondary TLB may use a stale translation inside that window, which
     * the checker counts apart.
     */
    LINUX_5_4("5.4"),
    /**
     * A stricter kernel than any Linux: every change of present entries calls
     * {@code invalidateRange} under the page-table lock right after the change and ends with
     * {@code invalidateRangeOnlyEnd}; migration replaces the entry in one step. No stale window
     * exists. The OOM reaper's starts are non-blockable in both orders. This was the simulator's only order before it followed 5.4.
     */
    STRICT("strict");

    private final String cliName;

    KernelOrder(String cliName) {
        this.cliName = cliName;
    }

    /**
     * @param s "5.4" or "strict"
     * @return the order
     * @throws IllegalArgumentException naming the accepted values
     */
    public static KernelOrder parse(String s) {
        for (KernelOrder o : values()) {
            if (o.cliName.equalsIgnoreCase(s.trim())) {
                return o;
            }
        }
        throw new IllegalArgumentException("unknown kernel order '" + s.trim() + "' (expected 5.4 or strict)");
    }

    /** @return one line for {@code --list} */
    public String description() {
        return this == LINUX_5_4
                ? "Linux 5.4's order: secondary TLBs flushed after the page-table lock, full ends, migration entries"
                : "a stricter kernel: invalidateRange under the page-table lock after every change, no stale window";
    }

    @Override
    public String toString() {
        return cliName;
    }
}
