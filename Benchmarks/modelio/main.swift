// Loads a model directory with ModelIO and converts every float tensor to float32 (what the encoder does).
// Built by Benchmarks/modelio_load.sh together with Sources/ModelIO (no package build needed).
#if canImport(Glibc)
import Glibc
#endif

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

let path = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "models/all-MiniLM-L6-v2"
let runs = 5
var times: [Double] = []
var total = 0
for _ in 0..<runs {
    let start = now()
    let directory = try ModelDirectory(path: path)
    let weights = try directory.loadWeights()
    var count = 0
    for name in weights.tensorNames {
        if let file = weights as? SafetensorsFile, file.info(of: name)?.dtype.convertsToFloat32 == false { continue }
        count += try weights.tensor(name).values.count
    }
    times.append(now() - start)
    total = count
}
times.sort()
print("swift_modelio_load_s \(times[runs / 2]) floats \(total)")
