import ContactsAPI
import ContactsCore
import FastCGI
import Logging

/// The answers a worker has computed and holds until a flush of the journal covers the changes
/// they show (see `WorkerLoop.run()`): when to let them go, and what to send for each then.
/// Pure: the worker settles the store and writes the answers; this decides.
struct HeldAnswers<Ticket> {
  /// One answer computed and not sent yet.
  struct Answer {
    let ticket: Ticket
    let request: APIRequest
    let response: FastCGIResponse
    /// When its request was accepted (monotonic nanoseconds).
    let started: UInt64
    let logger: Logger
  }

  /// At most this many answers are held at once.
  static var capacity: Int { 16 }
  /// Held answers go out once the oldest was accepted this long ago, even while more requests
  /// wait: enough work between flushes to cover one, and no answer much later than its flush.
  static var longestHoldNanoseconds: UInt64 { 2_000_000 }

  private(set) var answers: [Answer] = []

  var isEmpty: Bool { answers.isEmpty }

  /// Holds `answer`.
  ///
  /// - Returns: whether the held answers are due now (full, or the oldest held long enough).
  mutating func hold(_ answer: Answer, now: UInt64) -> Bool {
    answers.append(answer)
    return answers.count >= Self.capacity || now &- answers[0].started >= Self.longestHoldNanoseconds
  }

  /// Settles the held answers' changes with `settle` and hands each back, in the order held,
  /// with what to send: its own response, or, when `settle` failed, the store's 503 from
  /// `unavailable` (nothing computed from changes that may be lost goes out).
  mutating func release(
    settle: () throws -> Void, unavailable: (APIRequest, ContactStoreUnavailable) -> APIResponse
  ) -> (answers: [(Answer, FastCGIResponse)], failure: ContactStoreUnavailable?) {
    var failure: ContactStoreUnavailable?
    do {
      try settle()
    } catch let error as ContactStoreUnavailable {
      failure = error
    } catch {
      failure = ContactStoreUnavailable(reason: "\(error)", duringWrite: true)
    }
    let released = answers.map { answer in
      (answer, failure.map { FastCGIResponse(unavailable(answer.request, $0)) } ?? answer.response)
    }
    answers.removeAll()
    return (released, failure)
  }
}
