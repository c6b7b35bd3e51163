package org.mmunotifier.simulator;

/** The operations the simulation counts; the first group are primary (CPU-side) events. */
public enum Op {
    MMAP(true, "mmap"),
    MUNMAP(true, "munmap"),
    MPROTECT(true, "mprotect"),
    PAGE_FAULT(true, "page fault"),
    COW_BREAK(true, "copy-on-write break"),
    MIGRATE(true, "page migration"),
    AGE(true, "aging (clearYoung)"),
    TEST_YOUNG(true, "testYoung"),
    RECLAIM_SCAN(true, "reclaim scan (clearFlushYoung)"),
    RECLAIM(true, "page reclaimed"),
    FORK(true, "fork"),
    SPAWN(true, "spawn"),
    EXIT(true, "exit"),
    SEGV(false, "fault refused (no area or permission)"),
    OOM(false, "fault refused (no free frame)"),
    ATTACH(false, "secondary attach"),
    DETACH(false, "secondary detach"),
    ACCESS(false, "secondary access"),
    ACCESS_REFUSED(false, "secondary access refused"),
    UNLOAD(false, "driver unload");

    final boolean primary;
    final String label;

    Op(boolean primary, String label) {
        this.primary = primary;
        this.label = label;
    }
}
