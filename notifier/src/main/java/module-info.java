/**
 * MMU notifiers for the JVM: Linux 5.4 {@code mm/mmu_notifier.c} with the get/put registration
 * scheme (upstream 2c7933f53f6b), as {@link org.mmunotifier.mm.MmuNotifier} and friends, and
 * the interval notifiers of Linux 5.5 ({@link org.mmunotifier.mm.MmuIntervalNotifier}).
 *
 * <p>The SRCU domain the notifiers stand on is an implementation detail: no type of
 * {@code org.mmunotifier.srcu} appears in this module's API.
 */
module org.mmunotifier.mm {
    requires org.mmunotifier.srcu;
    requires jdk.jfr; // its events (docs/observability.md); a JDK module, not a dependency

    exports org.mmunotifier.mm;
}
