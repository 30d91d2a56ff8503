/// Module Scheduler: see docs/ARCHITECTURE.md.
public enum SchedulerModule {}
