import Testing
@testable import ModelIO

/// One crafted file per header violation; each must give its own specific error.
@Suite struct SafetensorsValidationTests {
    let twoFloats = f32Bytes([1, 2])

    @Test func validMinimalFileOpens() throws {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        let (error, _) = openError(safetensorsBytes(header: header, data: twoFloats))
        #expect(error == nil)
    }

    @Test func zeroSizeFile() {
        let (error, path) = openError([])
        #expect(error == .fileTooSmall(path: path, size: 0))
    }

    @Test func fileShorterThanPrefix() {
        let (error, path) = openError([1, 0, 0])
        #expect(error == .fileTooSmall(path: path, size: 3))
    }

    @Test func sizePrefixLargerThanFile() {
        let bytes = safetensorsBytes(header: "{}", data: [], declaredSize: 50)
        let (error, path) = openError(bytes)
        #expect(error == .headerBeyondFile(path: path, declaredSize: 50, fileSize: 10))
    }

    @Test func headerOver100MBDeclared() {
        let bytes = safetensorsBytes(header: "{}", data: [], declaredSize: 100_000_001)
        let (error, path) = openError(bytes)
        #expect(error == .headerTooLarge(path: path, declaredSize: 100_000_001, limit: 100_000_000))
        // A size near UInt64.max must not overflow when added to the prefix length.
        let huge = safetensorsBytes(header: "{}", data: [], declaredSize: UInt64.max)
        let (error2, path2) = openError(huge)
        #expect(error2 == .headerTooLarge(path: path2, declaredSize: UInt64.max, limit: 100_000_000))
    }

    @Test func nonUTF8Header() {
        var header = Array(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#.utf8)
        header[2] = 0xFF // inside the key
        let (error, path) = openError(safetensorsBytes(header: header, data: twoFloats))
        #expect(error == .headerNotUTF8(path: path, byteOffset: 2))
        // An overlong encoding of '/' (0xC0 0xAF) is invalid UTF-8 too.
        var overlong = Array(#"{"ab":{}}"#.utf8)
        overlong[2] = 0xC0; overlong[3] = 0xAF
        let (error2, path2) = openError(safetensorsBytes(header: overlong, data: []))
        #expect(error2 == .headerNotUTF8(path: path2, byteOffset: 2))
    }

    @Test func headerNotAJSONObject() {
        for header in ["[1,2]", "\"x\"", " [1]", "", "   ", "\u{FEFF}{}"] {
            let (error, path) = openError(safetensorsBytes(header: header, data: []))
            #expect(error == .headerNotObject(path: path), "header \(header)")
        }
    }

    @Test func leadingWhitespaceBeforeObjectIsAccepted() {
        // As in the reference implementation (safetensors 0.8).
        let header = "\n\t " + #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        let (error, _) = openError(safetensorsBytes(header: header, data: twoFloats))
        #expect(error == nil)
    }

    @Test func headerMalformedJSON() {
        let (error, path) = openError(safetensorsBytes(header: #"{"a":"#, data: []))
        guard case let .headerInvalidJSON(p, detail)? = error else {
            Issue.record("expected headerInvalidJSON, got \(String(describing: error))"); return
        }
        #expect(p == path)
        #expect(detail.contains("unexpected end"))
    }

    @Test func headerPaddedWithTrailingSpacesIsValid() {
        // The Python writer pads the header with spaces to an 8-byte boundary.
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}    "#
        let (error, _) = openError(safetensorsBytes(header: header, data: twoFloats))
        #expect(error == nil)
    }

    @Test func negativeOffset() {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}"#
        let (error, path) = openError(safetensorsBytes(header: header, data: twoFloats))
        #expect(error == .negativeValue(path: path, tensor: "a", field: "data_offsets[0]", value: "-8"))
    }

    @Test func negativeShape() {
        let header = #"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#
        let (error, path) = openError(safetensorsBytes(header: header, data: twoFloats))
        #expect(error == .negativeValue(path: path, tensor: "a", field: "shape[0]", value: "-2"))
    }

    @Test func overflowingOffset() {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,99999999999999999999]}}"#
        let (error, path) = openError(safetensorsBytes(header: header, data: twoFloats))
        #expect(error == .arithmeticOverflow(path: path, tensor: "a", field: "data_offsets[1]"))
    }

    @Test func overflowingElementCount() {
        // Each dimension fits, the product does not.
        let header = #"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#
        let (error, path) = openError(safetensorsBytes(header: header, data: twoFloats))
        #expect(error == .arithmeticOverflow(path: path, tensor: "a", field: "element count of shape [4294967296, 4294967296]"))
    }

    @Test func overflowingByteSize() {
        // The element count fits, times 8 bytes it does not.
        let header = #"{"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]}}"#
        let (error, path) = openError(safetensorsBytes(header: header, data: twoFloats))
        #expect(error == .arithmeticOverflow(path: path, tensor: "a", field: "byte size of shape [2305843009213693952]"))
    }

    @Test func fractionalNumberIsNotAnInteger() {
        let header = #"{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}"#
        let (error, path) = openError(safetensorsBytes(header: header, data: twoFloats))
        #expect(error == .tensorEntryInvalid(path: path, tensor: "a", reason: "shape[0] is not an integer (2.0)"))
    }

    @Test func reversedOffsets() {
        let header = #"{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}"#
        let (error, path) = openError(safetensorsBytes(header: header, data: twoFloats))
        #expect(error == .offsetsReversed(path: path, tensor: "a", begin: 8, end: 0))
    }

    @Test func overlappingOffsets() {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        let (error, path) = openError(safetensorsBytes(header: header, data: f32Bytes([1, 2, 3])))
        #expect(error == .overlappingTensors(path: path, tensor: "b", previous: "a"))
    }

    @Test func sameOffsetsTwice() {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        let (error, path) = openError(safetensorsBytes(header: header, data: twoFloats))
        #expect(error == .overlappingTensors(path: path, tensor: "b", previous: "a"))
    }

    @Test func offsetsOutOfBounds() {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#
        let (error, path) = openError(safetensorsBytes(header: header, data: f32Bytes([1, 2, 3])))
        #expect(error == .offsetsOutOfBounds(path: path, tensor: "b", end: 16, dataSize: 12))
        // Far beyond the file, with nothing before it: still out of bounds (not a "hole").
        let far = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[1000,1008]}}"#
        let (error2, path2) = openError(safetensorsBytes(header: far, data: twoFloats))
        #expect(error2 == .offsetsOutOfBounds(path: path2, tensor: "a", end: 1008, dataSize: 8))
    }

    @Test func shapeTimesDTypeDiffersFromSpan() {
        let header = #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#
        let (error, path) = openError(safetensorsBytes(header: header, data: twoFloats))
        #expect(error == .shapeSpanMismatch(path: path, tensor: "a", expectedBytes: 12, spanBytes: 8))
        let header16 = #"{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}}"#
        let (error2, path2) = openError(safetensorsBytes(header: header16, data: twoFloats))
        #expect(error2 == .shapeSpanMismatch(path: path2, tensor: "a", expectedBytes: 4, spanBytes: 8))
    }

    @Test func subByteDTypeMustFillWholeBytes() {
        let header = #"{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#
        let (error, path) = openError(safetensorsBytes(header: header, data: [0, 0]))
        #expect(error == .misalignedSlice(path: path, tensor: "a"))
    }

    @Test func trailingBytes() {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        let (error, path) = openError(safetensorsBytes(header: header, data: twoFloats + [0, 0, 0]))
        #expect(error == .trailingBytes(path: path, dataEnd: 8, dataSize: 11))
        // No tensors but data bytes: all trailing.
        let (error2, path2) = openError(safetensorsBytes(header: "{}", data: [1]))
        #expect(error2 == .trailingBytes(path: path2, dataEnd: 0, dataSize: 1))
    }

    @Test func holeBetweenTensors() {
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        let (error, path) = openError(safetensorsBytes(header: header, data: f32Bytes([1, 2, 3])))
        #expect(error == .holeBeforeTensor(path: path, tensor: "b", holeStart: 4, holeEnd: 8))
    }

    @Test func holeAtStart() {
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        let (error, path) = openError(safetensorsBytes(header: header, data: twoFloats))
        #expect(error == .holeBeforeTensor(path: path, tensor: "a", holeStart: 0, holeEnd: 4))
    }

    @Test func duplicateTensorName() {
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        let (error, path) = openError(safetensorsBytes(header: header, data: twoFloats))
        #expect(error == .duplicateTensorName(path: path, tensor: "a"))
        // Equal after unescaping: "\u0061" is "a".
        let escaped = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"\u0061":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        let (error2, path2) = openError(safetensorsBytes(header: escaped, data: twoFloats))
        #expect(error2 == .duplicateTensorName(path: path2, tensor: "a"))
    }

    @Test func duplicateFieldInTensorEntry() {
        let header = #"{"a":{"dtype":"F32","dtype":"F16","shape":[2],"data_offsets":[0,8]}}"#
        let (error, path) = openError(safetensorsBytes(header: header, data: twoFloats))
        #expect(error == .tensorEntryInvalid(path: path, tensor: "a", reason: "field \"dtype\" appears more than once"))
    }

    @Test func metadataNotAStringMap() {
        let header = #"{"__metadata__":{"format":"pt","n":3},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        let (error, path) = openError(safetensorsBytes(header: header, data: twoFloats))
        #expect(error == .metadataNotStringMap(path: path, key: "n"))
        let notObject = #"{"__metadata__":["pt"],"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        let (error2, path2) = openError(safetensorsBytes(header: notObject, data: twoFloats))
        #expect(error2 == .metadataNotStringMap(path: path2, key: nil))
    }

    @Test func metadataIsRead() throws {
        let dir = TempDir()
        let header = #"{"__metadata__":{"format":"pt","note":"héllo"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        let path = dir.write("m.safetensors", bytes: safetensorsBytes(header: header, data: twoFloats))
        let file = try SafetensorsFile(path: path)
        #expect(file.metadata == ["format": "pt", "note": "héllo"])
        #expect(file.tensorNames == ["a"])
    }

    @Test func unknownDType() {
        let header = #"{"a":{"dtype":"F48","shape":[2],"data_offsets":[0,8]}}"#
        let (error, path) = openError(safetensorsBytes(header: header, data: twoFloats))
        #expect(error == .unknownDType(path: path, tensor: "a", dtype: "F48"))
    }

    @Test func missingAndMistypedFields() {
        let cases: [(String, String)] = [
            (#"{"a":{"shape":[2],"data_offsets":[0,8]}}"#, "missing \"dtype\""),
            (#"{"a":{"dtype":"F32","data_offsets":[0,8]}}"#, "missing \"shape\""),
            (#"{"a":{"dtype":"F32","shape":[2]}}"#, "missing \"data_offsets\""),
            (#"{"a":{"dtype":32,"shape":[2],"data_offsets":[0,8]}}"#, "dtype is a number, not a string"),
            (#"{"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}}"#, "shape is a number, not an array"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}}"#, "data_offsets is not an array [begin, end]"),
            (#"{"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}}"#, "shape[0] is a string, not an integer"),
            (#"{"a":[1]}"#, "entry is a array, not an object"),
        ]
        for (header, reason) in cases {
            let (error, path) = openError(safetensorsBytes(header: header, data: twoFloats))
            #expect(error == .tensorEntryInvalid(path: path, tensor: "a", reason: reason), "header \(header)")
        }
    }

    @Test func pickleFilesAreRefused() {
        for name in ["pytorch_model.bin", "model.pt", "weights.pth"] {
            let (error, path) = openError([0x80, 0x02, 0x7D, 0x71, 0x00], name: name)
            #expect(error == .pickleWeights(path: path), "\(name)")
            #expect(error?.description.contains("safe_serialization=True") == true)
        }
        // A torch zip checkpoint renamed to .safetensors is recognised by its magic bytes.
        let zip: [UInt8] = [0x50, 0x4B, 0x03, 0x04, 0x14, 0x00, 0x00, 0x08, 0x00, 0x00]
        let (error, path) = openError(zip, name: "renamed.safetensors")
        #expect(error == .pickleWeights(path: path))
    }

    @Test func missingFile() {
        let path = "/nonexistent/dir/model.safetensors"
        #expect(throws: ModelIOError.fileNotFound(path: path)) { try SafetensorsFile(path: path) }
    }

    @Test func deeplyNestedHeaderIsAnErrorNotACrash() {
        let header = "{\"a\":" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}"
        let (error, path) = openError(safetensorsBytes(header: header, data: []))
        guard case let .headerInvalidJSON(p, detail)? = error else {
            Issue.record("expected headerInvalidJSON, got \(String(describing: error))"); return
        }
        #expect(p == path)
        #expect(detail.contains("nested deeper"))
    }

    @Test func errorMessagesNameFileAndTensor() {
        let header = #"{"layer.0.weight":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#
        let (error, path) = openError(safetensorsBytes(header: header, data: twoFloats))
        let message = error?.description ?? ""
        #expect(message.contains(path))
        #expect(message.contains("layer.0.weight"))
    }
}
