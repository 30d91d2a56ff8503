import Testing
@testable import Scheduler

/// `--shard auto`: the shard from a Slurm job array's or a Kubernetes Indexed Job's environment.
@Suite struct ShardEnvironmentTests {
    /// The variables Slurm 22.05 sets in task `id` of `sbatch --array=min-max[:step]` (as seen on the test cluster).
    func slurm(id: Int, min: Int, max: Int, step: Int = 1, count: Int? = nil) -> [String: String] {
        ["SLURM_JOB_ID": "42", "SLURM_ARRAY_JOB_ID": "41", "SLURM_ARRAY_TASK_ID": "\(id)",
         "SLURM_ARRAY_TASK_MIN": "\(min)", "SLURM_ARRAY_TASK_MAX": "\(max)", "SLURM_ARRAY_TASK_STEP": "\(step)",
         "SLURM_ARRAY_TASK_COUNT": "\(count ?? (max - min) / step + 1)"]
    }

    func message(_ body: () throws -> ShardSpec) -> String {
        do { let s = try body(); return "no error: \(s.index)/\(s.count)" } catch { return "\(error)" }
    }

    @Test func slurmArrayFromZero() throws {
        for id in 0...15 {
            #expect(try ShardSpec(environment: slurm(id: id, min: 0, max: 15)) == ShardSpec(index: id, count: 16))
        }
        #expect(try ShardSpec(parsing: "auto", environment: slurm(id: 2, min: 0, max: 2)) == ShardSpec(index: 2, count: 3))
    }

    /// `--array=1-3` numbers the tasks 1, 2, 3: they are shards 0/3, 1/3, 2/3 (not 1/3, 2/3 and an invalid 3/3).
    @Test func slurmArrayFromOneAndWithStep() throws {
        #expect(try (1...3).map { try ShardSpec(environment: slurm(id: $0, min: 1, max: 3)) }
                == [ShardSpec(index: 0, count: 3), ShardSpec(index: 1, count: 3), ShardSpec(index: 2, count: 3)])
        // --array=10-20:5 -> tasks 10, 15, 20.
        #expect(try ShardSpec(environment: slurm(id: 15, min: 10, max: 20, step: 5)) == ShardSpec(index: 1, count: 3))
        #expect(try ShardSpec(environment: slurm(id: 20, min: 10, max: 20, step: 5)) == ShardSpec(index: 2, count: 3))
        // Without MIN/MAX/STEP (not set by every Slurm), the id is the index.
        #expect(try ShardSpec(environment: ["SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "2"]) == ShardSpec(index: 1, count: 2))
        // auto/N must agree with the array.
        #expect(try ShardSpec(parsing: "auto/3", environment: slurm(id: 3, min: 1, max: 3)) == ShardSpec(index: 2, count: 3))
        #expect(message { try ShardSpec(parsing: "auto/4", environment: slurm(id: 3, min: 1, max: 3)) }
                .contains("the Slurm array has 3 tasks"))
    }

    @Test func slurmArrayThatIsNotARange() {
        // --array=1,2,7: COUNT 3, MIN 1, MAX 7: no shard numbering follows from the ids.
        let list = message { try ShardSpec(environment: slurm(id: 7, min: 1, max: 7, count: 3)) }
        #expect(list.contains("not an evenly spaced range") && list.contains("--array=0-<N-1>"), "\(list)")
        // An id off the step, or below MIN.
        #expect(message { try ShardSpec(environment: slurm(id: 11, min: 10, max: 20, step: 5)) }.contains("evenly spaced"))
        #expect(message { try ShardSpec(environment: slurm(id: 0, min: 1, max: 3)) }.contains("evenly spaced"))
        // Index >= count: task id beyond the array (only detectable without MAX).
        let beyond = message { try ShardSpec(environment: ["SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "3"]) }
        #expect(beyond.contains("SLURM_ARRAY_TASK_ID=5 is task 4 of an array of 3"), "\(beyond)")
        let zero = message { try ShardSpec(environment: ["SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "0"]) }
        #expect(zero.contains("evenly spaced"), "\(zero)")
        let noCount = message { try ShardSpec(environment: ["SLURM_ARRAY_TASK_ID": "0"]) }
        #expect(noCount.contains("SLURM_ARRAY_TASK_COUNT is not"), "\(noCount)")
    }

    @Test func kubernetesIndexedJob() throws {
        #expect(try ShardSpec(parsing: "auto/16", environment: ["JOB_COMPLETION_INDEX": "15"]) == ShardSpec(index: 15, count: 16))
        #expect(try ShardSpec(parsing: "auto", environment: ["JOB_COMPLETION_INDEX": "0", "FEATURIZE_SHARD_COUNT": "4"])
                == ShardSpec(index: 0, count: 4))
        #expect(try ShardSpec(parsing: "auto/4", environment: ["JOB_COMPLETION_INDEX": "3", "FEATURIZE_SHARD_COUNT": "4"])
                == ShardSpec(index: 3, count: 4))
        let noCount = message { try ShardSpec(parsing: "auto", environment: ["JOB_COMPLETION_INDEX": "3"]) }
        #expect(noCount.contains("nothing gives the count") && noCount.contains("FEATURIZE_SHARD_COUNT"), "\(noCount)")
        let disagree = message { try ShardSpec(parsing: "auto/8", environment: ["JOB_COMPLETION_INDEX": "3", "FEATURIZE_SHARD_COUNT": "4"]) }
        #expect(disagree.contains("disagrees with FEATURIZE_SHARD_COUNT=4"), "\(disagree)")
        let beyond = message { try ShardSpec(parsing: "auto/4", environment: ["JOB_COMPLETION_INDEX": "4"]) }
        #expect(beyond.contains("JOB_COMPLETION_INDEX=4 is not in 0..<4"), "\(beyond)")
        let negative = message { try ShardSpec(parsing: "auto/4", environment: ["JOB_COMPLETION_INDEX": "-1"]) }
        #expect(negative.contains("JOB_COMPLETION_INDEX=-1 is not in 0..<4"), "\(negative)")
    }

    @Test func noArrayIndexSaysWhatItLookedFor() {
        let none = message { try ShardSpec(parsing: "auto", environment: ["HOME": "/root"]) }
        for name in ["SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "JOB_COMPLETION_INDEX", "FEATURIZE_SHARD_COUNT", "i/N"] {
            #expect(none.contains(name), "\(none)")
        }
        #expect(none.hasPrefix("invalid shard: auto found no array index"), "\(none)")
        // A plain (non-array) Slurm job is named as such.
        let plainJob = message { try ShardSpec(parsing: "auto", environment: ["SLURM_JOB_ID": "7"]) }
        #expect(plainJob.contains("Slurm job 7, but not a job array"), "\(plainJob)")
        // FEATURIZE_SHARD_COUNT alone gives no index.
        #expect(message { try ShardSpec(parsing: "auto/3", environment: ["FEATURIZE_SHARD_COUNT": "3"]) }.contains("found no array index"))
    }

    @Test func malformedValues() {
        #expect(message { try ShardSpec(environment: ["SLURM_ARRAY_TASK_ID": "two", "SLURM_ARRAY_TASK_COUNT": "3"]) }
                .contains("SLURM_ARRAY_TASK_ID='two' is not an integer"))
        #expect(message { try ShardSpec(environment: slurm(id: 1, min: 0, max: 2).merging(["SLURM_ARRAY_TASK_COUNT": "3x"]) { $1 }) }
                .contains("SLURM_ARRAY_TASK_COUNT='3x' is not an integer"))
        #expect(message { try ShardSpec(environment: ["JOB_COMPLETION_INDEX": ""], count: 2) }
                .contains("JOB_COMPLETION_INDEX='' is not an integer"))
        #expect(message { try ShardSpec(parsing: "auto", environment: ["JOB_COMPLETION_INDEX": "1", "FEATURIZE_SHARD_COUNT": "many"]) }
                .contains("FEATURIZE_SHARD_COUNT='many' is not an integer"))
        for bad in ["auto/", "auto/0", "auto/-2", "auto/x", "auto3"] {
            #expect(message { try ShardSpec(parsing: bad, environment: ["JOB_COMPLETION_INDEX": "0"]) }.hasPrefix("invalid shard:"), "\(bad)")
        }
        #expect(message { try ShardSpec(environment: ["JOB_COMPLETION_INDEX": "0", "SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "1"]) }
                .contains("both SLURM_ARRAY_TASK_ID and JOB_COMPLETION_INDEX"))
    }

    /// `i/N` is unchanged: the environment is not read.
    @Test func explicitShardIgnoresTheEnvironment() throws {
        #expect(try ShardSpec(parsing: "1/4", environment: slurm(id: 0, min: 0, max: 2)) == ShardSpec(index: 1, count: 4))
        #expect(throws: SchedulerError.self) { try ShardSpec(parsing: "4/4", environment: [:]) }
    }
}
