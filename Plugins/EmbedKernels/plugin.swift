import PackagePlugin

/// Build-tool plugin: turns every `*.cl` file of the target (top-level `Kernels/`) into one Swift source
/// file of string constants, so kernels are embedded in the binary (no run-time file lookups).
@main
struct EmbedKernels: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let sourceTarget = target as? SourceModuleTarget else { return [] }
        let kernels = sourceTarget.sourceFiles(withSuffix: "cl").map(\.url).sorted { $0.path < $1.path }
        let tool = try context.tool(named: "EmbedKernelsTool")
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedKernels.swift")
        return [.buildCommand(
            displayName: "Embedding \(kernels.count) OpenCL kernel file(s)",
            executable: tool.url,
            arguments: [output.path] + kernels.map(\.path),
            inputFiles: kernels,
            outputFiles: [output])]
    }
}
