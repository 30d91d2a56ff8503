import FeatureIO
import Foundation
import Scheduler
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The documented Slurm job array (`scripts/slurm-extract.sbatch`) run end to end on a real single-node Slurm
/// cluster (`scripts/slurm-cluster.sh`): 3 array tasks with `--shard auto`, the `afterok` merge job, and a task
/// requeued mid-run that resumes from its chunks. Both merged outputs must equal a single `featurize extract`
/// run byte for byte. Accounting is off on this cluster (no slurmdbd, so `sacct` has nothing): the test polls
/// `squeue` until the jobs have left the queue. Needs root (slurmd launches the jobs; munged's key) and the
/// Slurm daemons (`scripts/setup.sh` installs them); the cluster is stopped at the end, also on failure.
@Suite(.serialized) struct SlurmClusterTests {
    static let root = ExtractJobTests.root
    static let clusterScript = root.appendingPathComponent("scripts/slurm-cluster.sh").path
    static let arrayScript = root.appendingPathComponent("scripts/slurm-extract.sbatch").path
    static let slurmDir = "/tmp/featurize-slurm"
    static let slurmConf = slurmDir + "/etc/slurm.conf"
    /// 6,000 rows in windows (and so chunks) of 100: each of the 3 tasks writes 20 chunks and runs for a few
    /// seconds, long enough to requeue it after its first chunk.
    static let rows = 6_000, window = 100
    static let extractOptions = ["--device", "cpu", "--pooling", "mean", "--window", "\(window)"]

    static var canRunSlurm: Bool {
        guard getuid() == 0 else { return false }
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"]
        return ["slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "munged"].allSatisfy { tool in
            dirs.contains { FileManager.default.isExecutableFile(atPath: $0 + "/" + tool) }
        }
    }

    struct Output { var status: Int32; var text: String; var seconds: Double }

    /// Runs `arguments` (a program on PATH and its arguments) in `directory` with the Slurm and Featurize
    /// variables added to this process's environment; stdout and stderr together. Killed after `timeout` s.
    /// (posix_spawn + waitpid rather than `Process`: Foundation's `Process` sees the end of a child only when
    /// every inheritor of its internal descriptors has exited, and the daemons `slurm-cluster.sh start`
    /// leaves running never do.)
    static func shell(_ arguments: [String], in directory: String? = nil, extra: [String: String] = [:],
                      timeout: Double = 120) throws -> Output {
        let log = NSTemporaryDirectory() + "featurize-slurm-cmd-\(UUID().uuidString).log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        var environment = ProcessInfo.processInfo.environment
        environment["SLURM_CONF"] = slurmConf
        environment["PATH"] = (environment["PATH"] ?? "/usr/bin:/bin") + ":/usr/sbin:/sbin"
        for (k, v) in extra { environment[k] = v }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // `env -C DIR` changes directory, then finds the program on the (new) PATH.
        let argv: [UnsafeMutablePointer<CChar>?] = (["/usr/bin/env"] + (directory.map { ["-C", $0] } ?? []) + arguments)
            .map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in argv + envp { free(p) } }
        // The child starts with no blocked signals and default dispositions: the test runner's mask would
        // otherwise be inherited by the daemons, and slurmd would ignore `stop`'s SIGTERM.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let started = Date()
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, "/usr/bin/env", &actions, &attributes, argv, envp)
        guard spawned == 0 else {
            throw MeasuredRunError(description: "cannot start \(arguments.joined(separator: " ")): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        var timedOut = false
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR { throw MeasuredRunError(description: "waitpid: \(String(cString: strerror(errno)))") }
            if !timedOut && Date().timeIntervalSince(started) > timeout { timedOut = true; kill(pid, SIGKILL) }
            Thread.sleep(forTimeInterval: 0.02)
        }
        var text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        if timedOut { text += "\n[killed after \(Int(timeout)) s]" }
        let signal = status & 0x7F
        return Output(status: signal == 0 ? (status >> 8) & 0xFF : 128 + signal, text: text,
                      seconds: Date().timeIntervalSince(started))
    }

    /// What to read when something fails: the queue, the job logs of `directory` and the daemons' log tails.
    static func diagnostics(_ directory: String) -> String {
        var parts = ["squeue:\n" + ((try? shell(["squeue", "-o", "%i %T %r %S"]).text) ?? "(squeue failed)")]
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".out") }.sorted()
        for f in files { parts.append("\(f):\n" + ((try? String(contentsOfFile: directory + "/" + f, encoding: .utf8)) ?? "")) }
        for daemon in ["slurmctld", "slurmd", "munged"] {
            let text = (try? String(contentsOfFile: "\(slurmDir)/log/\(daemon).log", encoding: .utf8)) ?? "(no log)"
            parts.append("\(slurmDir)/log/\(daemon).log (last 30 lines):\n" + text.split(separator: "\n").suffix(30).joined(separator: "\n"))
        }
        return parts.joined(separator: "\n---\n")
    }

    /// The queue's lines (`id state reason`) that belong to the given jobs (an array's tasks included).
    static func queued(_ jobs: [String]) throws -> [String] {
        let out = try shell(["squeue", "-h", "-o", "%i %T %r"])
        guard out.status == 0 else { throw MeasuredRunError(description: "squeue failed: \(out.text)") }
        return out.text.split(separator: "\n").map(String.init).filter { line in
            let id = line.split(separator: " ").first.map(String.init) ?? ""
            return jobs.contains(String(id.split(separator: "_").first ?? ""))
        }
    }

    struct Submission { var array: String; var merge: String }

    /// `scripts/slurm-extract.sbatch submit`, as the docs show it, with this test's settings in the environment.
    static func submit(_ directory: String, array: String, extra: [String: String]) throws -> Submission {
        let out = try shell([arrayScript, "submit", "--array=\(array)", "--cpus-per-task=1", "--"] + extractOptions,
                            in: directory, extra: extra, timeout: 60)
        // "array job 12, merge job 13 (afterok:12)"
        let words = out.text.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\n" }).map(String.init)
        guard out.status == 0, let a = words.firstIndex(of: "array"), let m = words.firstIndex(of: "merge"),
              a + 2 < words.count, m + 2 < words.count, Int(words[a + 2]) != nil, Int(words[m + 2]) != nil else {
            throw MeasuredRunError(description: "submission failed (status \(out.status)): \(out.text)")
        }
        return Submission(array: words[a + 2], merge: words[m + 2])
    }

    /// Polls `squeue` until the jobs have left the queue; `each` sees the queue's lines on every poll. A failed
    /// `squeue` (slurmctld slow to answer on a loaded machine) is retried until the deadline.
    static func waitUntilDone(_ s: Submission, timeout: Double, each: ([String]) throws -> Void = { _ in }) throws -> Double {
        let started = Date()
        var lastError = ""
        while Date().timeIntervalSince(started) < timeout {
            do {
                let lines = try queued([s.array, s.merge])
                if lines.isEmpty { return Date().timeIntervalSince(started) }
                try each(lines)
            } catch let error as MeasuredRunError { lastError = error.description }
            Thread.sleep(forTimeInterval: 0.25)
        }
        throw MeasuredRunError(description: "jobs \(s.array) (array) and \(s.merge) (merge) still queued after \(Int(timeout)) s \(lastError)")
    }

    /// docs/scheduling.md shows the job script that this suite runs, character for character.
    @Test func docsShowTheScriptThatRuns() throws {
        let docs = try String(contentsOf: Self.root.appendingPathComponent("docs/scheduling.md"), encoding: .utf8)
        let script = try String(contentsOfFile: Self.arrayScript, encoding: .utf8)
        let marker = "`scripts/slurm-extract.sbatch`:\n```bash\n"
        let start = try #require(docs.range(of: marker), "docs/scheduling.md has no block after \(marker)")
        let end = try #require(docs.range(of: "\n```\n", range: start.upperBound..<docs.endIndex))
        #expect(String(docs[start.upperBound..<end.lowerBound]) + "\n" == script,
                "the script in docs/scheduling.md differs from scripts/slurm-extract.sbatch: copy the file into the docs")
        #expect(docs.contains("scripts/slurm-cluster.sh start") && docs.contains("--shard auto"))
    }

    @Test(.enabled(if: SlurmClusterTests.canRunSlurm,
                   "needs root and Slurm (slurmctld, slurmd, sbatch, munged; scripts/setup.sh installs them): skipped otherwise"))
    func jobArrayMergesToTheSingleRunAndARequeuedTaskResumes() throws {
        let dir = NSTemporaryDirectory() + "featurize-slurm-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let base = try String(contentsOf: Self.root.appendingPathComponent("Tests/EncoderTests/Fixtures/texts.txt"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        let input = dir + "/texts.txt"
        try ((0..<Self.rows).map { "\($0) " + base[$0 % base.count] }.joined(separator: "\n") + "\n")
            .write(toFile: input, atomically: true, encoding: .utf8)

        let start = try Self.shell([Self.clusterScript, "start"], timeout: 600)
        defer {
            let stop = try? Self.shell([Self.clusterScript, "stop"], timeout: 120)
            print(String(format: "slurm-cluster.sh stop: status %d, %.1f s %@", stop?.status ?? -1, stop?.seconds ?? 0,
                         stop?.status == 0 ? "" : stop?.text ?? "did not run"))
        }
        try #require(start.status == 0, "slurm-cluster.sh start failed:\n\(start.text)\n\(Self.diagnostics(dir))")

        let single = try MeasuredRun.featurize(["extract", "--model", ExtractJobTests.modelPath, "--input", input,
                                                "--output", dir + "/single.npy", "--quiet"] + Self.extractOptions)
        try #require(single.status == 0, "single run: \(single.stderr)")
        let reference = try Data(contentsOf: URL(fileURLWithPath: dir + "/single.npy"))

        // 1. The array (task ids 0-2) and the merge job: byte-identical to the single run.
        let run1 = dir + "/run1"
        try FileManager.default.createDirectory(atPath: run1, withIntermediateDirectories: true)
        let settings = ["FEATURIZE": ClassifierCLITests.executable.path, "FEATURIZE_MODEL": ExtractJobTests.modelPath,
                        "FEATURIZE_INPUT": input]
        let first = try Self.submit(run1, array: "0-2", extra: settings.merging(["FEATURIZE_OUT": run1 + "/out"]) { $1 })
        let arraySeconds = try Self.waitUntilDone(first, timeout: 600)
        let merged1 = try? Data(contentsOf: URL(fileURLWithPath: run1 + "/out/all.npy"))
        #expect(merged1 == reference, "merged output of the array differs from the single run (or is missing)\n\(Self.diagnostics(run1))")
        for task in 0..<3 {
            let log = (try? String(contentsOfFile: "\(run1)/featurize-\(first.array)_\(task).out", encoding: .utf8)) ?? ""
            #expect(log.contains("featurize extract: 2000 texts"), "task \(task) log:\n\(log)")
        }
        print(String(format: "Slurm array, 3 tasks of 1 CPU over %d rows, submit to merged: %.1f s; single featurize extract (all CPUs): %.1f s",
                     Self.rows, arraySeconds, single.seconds))

        // 2. The same over task ids 1-3 (shards 0/3..2/3 from SLURM_ARRAY_TASK_MIN), with task 2 requeued
        // (SIGTERM, then run again) once its first chunk is on disk: it must resume from its chunks.
        let run2 = dir + "/run2"
        try FileManager.default.createDirectory(atPath: run2, withIntermediateDirectories: true)
        let secondSubmitted = Date()
        let second = try Self.submit(run2, array: "1-3", extra: settings.merging(["FEATURIZE_OUT": run2 + "/out"]) { $1 })
        let target = "\(second.array)_2"
        let manifest = run2 + "/out/part2.npy.parts/manifest.json"
        var chunksAtRequeue = 0
        let deadline = Date().addingTimeInterval(300)
        var polls = 0
        while Date() < deadline {
            if let d = FileManager.default.contents(atPath: manifest), let m = try? JSONDecoder().decode(OutputManifest.self, from: d) {
                chunksAtRequeue = m.chunks.count
                if chunksAtRequeue >= 1 { break }
            }
            // Once a second: a task that failed at once is a failure to report now, not at the deadline.
            polls += 1
            if polls % 50 == 0, let lines = try? Self.queued([second.array]), lines.isEmpty { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        try #require(chunksAtRequeue >= 1, "task \(target) wrote no chunk (the array ended, or 300 s passed)\n\(Self.diagnostics(run2))")
        var requeue = try Self.shell(["scontrol", "requeue", target])
        if requeue.status != 0 { Thread.sleep(forTimeInterval: 1); requeue = try Self.shell(["scontrol", "requeue", target]) }
        try #require(requeue.status == 0, "scontrol requeue \(target): \(requeue.text)\n\(Self.diagnostics(run2))")
        // Slurm holds a requeued job back for about 2 minutes (its begin time); let it start again soon. Not within
        // the second of the requeue: slurmd revokes the job's credential with a timestamp of whole seconds and kills a
        // launch whose credential is not newer ("Job credential revoked", seen once the tasks took under a second).
        let requeuedAt = Date()
        var released = false
        _ = try Self.waitUntilDone(second, timeout: 600) { lines in
            if !released, Date().timeIntervalSince(requeuedAt) > 2.5, lines.contains(where: { $0.hasPrefix(target + " PENDING") }) {
                released = try Self.shell(["scontrol", "update", "JobId=\(target)", "StartTime=now"]).status == 0
            }
        }
        let taskLog = (try? String(contentsOfFile: "\(run2)/featurize-\(second.array)_2.out", encoding: .utf8)) ?? ""
        #expect(taskLog.contains("restart 1") && taskLog.contains("DUE TO JOB REQUEUE"), "task \(target) was not requeued and rerun:\n\(taskLog)")
        let statsData = FileManager.default.contents(atPath: run2 + "/out/part2.stats.json") ?? Data()
        let stats = try? JSONSerialization.jsonObject(with: statsData) as? [String: Any]
        let resumed = stats?["resumedRows"] as? Int ?? -1, texts = stats?["texts"] as? Int ?? -1
        #expect(resumed >= chunksAtRequeue * Self.window && resumed < 2_000 && resumed % Self.window == 0,
                "requeued at \(chunksAtRequeue) chunks, the rerun resumed after \(resumed) rows\n\(Self.diagnostics(run2))")
        #expect(resumed + texts == 2_000, "resumed \(resumed) + computed \(texts) rows, expected 2000")
        let merged2 = try? Data(contentsOf: URL(fileURLWithPath: run2 + "/out/all.npy"))
        #expect(merged2 == reference, "merged output after the requeue differs from the single run (or is missing)\n\(Self.diagnostics(run2))")
        print(String(format: "Slurm requeue: task %@ requeued with %d chunk(s) on disk, resumed after %d rows, computed %d; submit to merged %.1f s; cluster start %.1f s",
                     target, chunksAtRequeue, resumed, texts, Date().timeIntervalSince(secondSubmitted), start.seconds))
        try? FileManager.default.removeItem(atPath: dir)
    }
}
