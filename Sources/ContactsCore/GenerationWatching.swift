/// Something that can tell the store's current generation cheaply, without loading the data:
/// what the events publisher polls to learn of every commit (a write, a bulk change, an import),
/// whichever process or host made it.
public protocol GenerationWatching: AnyObject {
  /// The generation as of now.
  ///
  /// - Throws: when the store cannot be read right now (the caller tries again later).
  func currentGeneration() throws -> UInt64
}
