/// Access to the OpenCL C sources in this folder, embedded at build time by the `EmbedKernels` plugin.
public enum KernelSources {
    /// Names of the embedded `.cl` files (without extension), sorted.
    public static var names: [String] { EmbeddedKernels.sources.keys.sorted() }

    /// The source of `Kernels/<name>.cl`, or nil if no such file was embedded.
    public static func source(named name: String) -> String? { EmbeddedKernels.sources[name] }
}
