import ModelIO

/// RoBERTa-style position ids (RoBERTa, XLM-RoBERTa, CamemBERT, MPNet), as transformers'
/// `create_position_ids_from_input_ids` computes them: a token whose id is not the padding index gets
/// `padding_idx + (number of non-padding ids up to and including it)`, a token whose id *is* the padding index
/// gets `padding_idx` — also inside a text (a literal `<pad>`), which shifts the positions after it.
///
/// The backend's `embed` op adds `position[t]` by slot t and gathers one more table by a per-token id (the
/// token-type slot). Id-dependent positions use that gather: the table holds `position[p] + tokenType[y]` at row
/// `p * types + y`, and the position slot gets a zero table.
struct TokenPositions {
    /// The id whose tokens count as padding (`pad_token_id`; 1 for MPNet).
    let paddingIndex: Int
    /// Rows of the token-type table folded into the lookup table (1 when the model has none).
    let types: Int

    /// Position ids of one right-padded sequence: `[seq]`, real tokens `0..<length` numbered as transformers
    /// does, padding positions `paddingIndex`.
    static func positionIds(_ ids: ArraySlice<Int32>, length: Int, paddingIndex: Int) -> [Int32] {
        var result = [Int32](repeating: Int32(paddingIndex), count: ids.count)
        var count = 0
        for (t, id) in ids.enumerated() where t < length && Int(id) != paddingIndex {
            count += 1
            result[t] = Int32(paddingIndex + count)
        }
        return result
    }

    /// Lookup-table rows `[batch * seq]`: `positionId * types + typeId` (typeIds nil: type 0).
    func lookupIds(ids: [Int32], typeIds: [Int32]?, lengths: [Int32], seq: Int) -> [Int32] {
        var result = [Int32](repeating: 0, count: ids.count)
        for (b, length) in lengths.enumerated() {
            let base = b * seq
            let positions = TokenPositions.positionIds(ids[base..<base + seq], length: Int(length), paddingIndex: paddingIndex)
            for t in 0..<seq {
                result[base + t] = positions[t] * Int32(types) + (typeIds?[base + t] ?? 0)
            }
        }
        return result
    }

    /// The lookup table `[maxPositions * types, hidden]`: `position[p] + tokenType[y]` at row `p * types + y`.
    static func table(position: [Float], tokenType: [Float]?, types: Int, hidden: Int) -> [Float] {
        let positions = position.count / hidden
        var table = [Float](repeating: 0, count: positions * types * hidden)
        for p in 0..<positions {
            for y in 0..<types {
                let row = (p * types + y) * hidden
                for c in 0..<hidden { table[row + c] = position[p * hidden + c] + (tokenType?[y * hidden + c] ?? 0) }
            }
        }
        return table
    }
}
