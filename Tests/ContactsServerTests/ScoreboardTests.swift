import Platform
import Testing

/// The scoreboard's metrics words: summed over the slots, kept in the totals when a worker exits.
@Suite struct ScoreboardTests {
  @Test func countsSurviveAWorkerThatExitsAndGaugesDoNot() throws {
    let board = try Scoreboard.create(slots: 3)
    #expect(board.slotCount == 3 && board.hasMetrics)
    board.claim(0, pid: 10)
    board.claim(1, pid: 11)
    board.beginRequest(0)
    board.endRequest(0, method: "GET", status: 200, nanoseconds: 700_000, slow: false, generation: 1)
    board.endRequest(0, method: "POST", status: 503, nanoseconds: 20_000_000_000, slow: true, generation: 1)
    board.endRequest(1, method: "BREW", status: 404, nanoseconds: 3_000_000, slow: false, generation: 1)
    board.recordCommit(0, nanoseconds: 2_000_000)
    board.countStoreError(0)
    board.updateWorkerCounts(
      0, storeReconnects: 1, listingCacheHits: 5, listingCacheMisses: 2, listingCacheBytes: 1000, listingCachePages: 3)
    board.countReplacement(.crash)

    var metrics = board.metrics()
    let get = Scoreboard.methods.firstIndex(of: "GET")!
    let post = Scoreboard.methods.firstIndex(of: "POST")!
    #expect(metrics.requests[get][1] == 1)
    #expect(metrics.requests[post][4] == 1)
    #expect(metrics.requests[Scoreboard.methods.count - 1][3] == 1, "an unknown method counts as other")
    // 0.7 ms in the first bucket, 3 ms in the third (≤ 5 ms), 20 s past the last bound.
    #expect(metrics.requestDuration.buckets[0] == 1 && metrics.requestDuration.buckets[2] == 1)
    #expect(metrics.requestDuration.buckets.last == 1 && metrics.requestDuration.count == 3)
    #expect(metrics.commitDuration.count == 1)
    #expect(metrics.listingCacheBytes == 1000 && metrics.listingCacheHits == 5)

    board.release(0)
    metrics = board.metrics()
    #expect(metrics.requestDuration.count == 3, "the exited worker's requests stay counted")
    #expect(metrics.storeErrors == 1 && metrics.storeReconnects == 1 && metrics.listingCacheMisses == 2)
    #expect(metrics.listingCacheBytes == 0, "an exited worker keeps no cache")
    #expect(metrics.replacements[.crash] == 1)
    #expect(board.retiredRequests == 2)
    // A new worker in the slot starts from zero; the totals do not move.
    board.claim(0, pid: 12)
    #expect(board.metrics().requestDuration.count == 3)
  }

  @Test func aWorkerMapsAScoreboardHandedOverByDescriptor() throws {
    let board = try Scoreboard.create(slots: 2)
    let mapped = try Scoreboard(descriptor: board.descriptor)
    #expect(mapped.slotCount == 2 && mapped.hasMetrics)
    mapped.claim(1, pid: 42)
    mapped.endRequest(1, method: "PUT", status: 200, nanoseconds: 1, slow: false, generation: 7)
    #expect(board.slot(1).pid == 42 && board.slot(1).requests == 1 && board.slot(1).generation == 7)
  }
}
