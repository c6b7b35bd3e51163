/**
 * Sleepable read-copy-update (SRCU) for the JVM: the Linux {@code srcu_struct} API as
 * {@link org.mmunotifier.srcu.Srcu}.
 */
module org.mmunotifier.srcu {
    exports org.mmunotifier.srcu;
}
