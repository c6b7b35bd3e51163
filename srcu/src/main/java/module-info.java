/**
 * Sleepable read-copy-update (SRCU) for the JVM: the Linux {@code srcu_struct} API as
 * {@link org.mmunotifier.srcu.Srcu}.
 */
module org.mmunotifier.srcu {
    requires jdk.jfr; // its events (docs/observability.md); a JDK module, not a dependency

    exports org.mmunotifier.srcu;
}
