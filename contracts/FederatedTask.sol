// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title FederatedTask: one federated training task of eotrust, every round on the ledger.
/// @notice Data owners (participants) train at home; each round they submit the CID of their
///         sealed model update; the aggregator publishes the CID of the new global model once
///         every participant submitted, or once the round's deadline passed with at least
///         `quorum` accepted updates. A participant that did not submit by then is recorded as
///         dropped; an update the aggregator refuses (wrong shape, NaN) is recorded as refused.
///         Running --(last round's aggregate)--> Finished;  Running --fail(reason)--> Failed.
/// @dev Deployed once as an implementation; every task is an EIP-1167 clone initialised by
///      FederatedTaskFactory in the same transaction; the clone's code carries the aggregator's
///      address after the 45 proxy bytes (never executed). Gas per round is what matters (a task
///      runs many rounds), so a round touches one storage word (slot 0: state, round, the
///      round's deadline and submitted bitmask) plus the current model's digest, and the
///      history (each update's CID and sample count, each round's aggregate, refused and
///      dropped participants) lives in events, which `verify` reads back. CIDs are stored as
///      their sha2-256 digest (every object eotrust names is a CIDv0 dag-pb node).
contract FederatedTask {
    enum State {
        Uninitialised,
        Running,
        Finished,
        Failed
    }

    struct Snapshot {
        address submitter;
        address aggregator;
        bytes32 aggregatorKey;
        bytes32 auditorKey;
        bytes32 plan;
        State state;
        uint8 round;
        uint8 rounds;
        uint8 quorum;
        uint32 roundSeconds;
        uint64 deadline;
        uint32 submitted;
        bytes32 model;
        bytes32 failure;
        address[] participants;
    }

    uint256 private constant MAX_PARTICIPANTS = 32;

    address private immutable _self;

    // slot 0: everything a round reads and writes, in one word
    State private _state;
    uint8 private _round; // the current round, counting from 0
    uint8 private _rounds;
    uint8 private _quorum;
    uint8 private _participantCount;
    uint32 private _roundSeconds;
    uint64 private _deadline; // the current round's deadline (block timestamp)
    uint32 private _submitted; // bit i: participant i submitted in the current round
    address private _submitter;
    bytes32 private _model; // CID digest of the current global model (round r's input)
    bytes32 private _aggregatorKey; // X25519 key updates are sealed for
    bytes32 private _auditorKey; // X25519 key of the submitter, who may audit (verify) updates
    bytes32 private _plan; // CID digest of the training plan (model, strategy, epochs, DP)
    bytes32 private _failure;
    address[] private _participants;
    mapping(address => uint256) private _indexPlusOne;

    /// The task was set up: round 0 starts with `model`.
    event FederatedTaskOpened(
        address indexed task,
        address indexed submitter,
        address aggregator,
        bytes32 plan,
        bytes32 model,
        uint8 rounds,
        uint8 quorum,
        uint32 roundSeconds,
        address[] participants
    );
    /// Participant `index` submitted its sealed update for `round`, trained on `samples` samples.
    /// (The task is the log's address; it is not repeated as a topic, to keep rounds cheap.)
    event UpdateSubmitted(address indexed participant, uint8 round, uint8 index, bytes32 update, uint32 samples);
    /// The aggregator closed `round` with the new global model `model`; bitmasks of the
    /// participants whose update was submitted, refused (not aggregated) and dropped (none by the deadline).
    event RoundClosed(uint8 round, bytes32 model, uint32 submitted, uint32 refused, uint32 dropped);
    /// The task ended: Finished after its last round, Failed with a reason's CID.
    event FederatedStateChanged(address indexed task, address indexed party, State from, State to, bytes32 cid);

    error NotAClone();
    error AlreadyInitialised();
    error NotSubmitter(address caller);
    error NotAggregator(address caller);
    error NotParticipant(address caller);
    error NotRunning(State state);
    error WrongRound(uint8 current, uint8 given);
    error DeadlinePassed(uint64 deadline);
    error AlreadySubmitted(uint8 index);
    error RoundStillOpen(uint64 deadline, uint8 accepted, uint8 needed);
    error QuorumNotReached(uint8 accepted, uint8 needed);
    error RefusedNotSubmitted(uint32 refused);
    error BadParticipants();
    error BadRounds();
    error ZeroAddress();
    error MissingKey();
    error MissingCid();
    error NoSamples();

    constructor() {
        _self = address(this);
    }

    /// Called once, by the factory, in the transaction that creates the clone.
    function initialise(
        address submitter_,
        address aggregator_,
        bytes32 aggregatorKey_,
        bytes32 auditorKey_,
        bytes32 plan_,
        bytes32 model_,
        address[] calldata participants_,
        uint8 rounds_,
        uint8 quorum_,
        uint32 roundSeconds_
    ) external {
        _onlyClone();
        if (_state != State.Uninitialised) revert AlreadyInitialised();
        if (submitter_ == address(0) || aggregator_ == address(0)) revert ZeroAddress();
        if (aggregator_ != _aggregatorArg()) revert NotAggregator(aggregator_);
        if (aggregatorKey_ == bytes32(0) || auditorKey_ == bytes32(0)) revert MissingKey();
        if (plan_ == bytes32(0) || model_ == bytes32(0)) revert MissingCid();
        uint256 n = participants_.length;
        if (n == 0 || n > MAX_PARTICIPANTS || quorum_ == 0 || quorum_ > n) revert BadParticipants();
        if (rounds_ == 0 || roundSeconds_ == 0) revert BadRounds();
        for (uint256 i = 0; i < n; ++i) {
            address p = participants_[i];
            if (p == address(0)) revert ZeroAddress();
            if (_indexPlusOne[p] != 0 || p == aggregator_) revert BadParticipants();
            _indexPlusOne[p] = i + 1;
            _participants.push(p);
        }
        _state = State.Running;
        _rounds = rounds_;
        _quorum = quorum_;
        _participantCount = uint8(n);
        _roundSeconds = roundSeconds_;
        _deadline = uint64(block.timestamp) + roundSeconds_;
        _submitter = submitter_;
        _model = model_;
        _aggregatorKey = aggregatorKey_;
        _auditorKey = auditorKey_;
        _plan = plan_;
        emit FederatedTaskOpened(
            address(this), submitter_, aggregator_, plan_, model_, rounds_, quorum_, roundSeconds_, participants_
        );
    }

    // ------------------------------------------------------------------ participants

    /// @param update CID digest of the participant's sealed update, trained on the current model.
    function submitUpdate(uint8 round, bytes32 update, uint32 samples) external {
        uint256 indexPlusOne = _indexPlusOne[msg.sender];
        if (indexPlusOne == 0) revert NotParticipant(msg.sender);
        if (_state != State.Running) revert NotRunning(_state);
        if (round != _round) revert WrongRound(_round, round);
        if (block.timestamp > _deadline) revert DeadlinePassed(_deadline);
        if (update == bytes32(0)) revert MissingCid();
        if (samples == 0) revert NoSamples();
        uint8 index = uint8(indexPlusOne - 1);
        uint32 bit = uint32(1) << index;
        if (_submitted & bit != 0) revert AlreadySubmitted(index);
        _submitted |= bit;
        emit UpdateSubmitted(msg.sender, round, index, update, samples);
    }

    // ------------------------------------------------------------------ aggregator

    /// Close `round` with the new global model `model`; `refused` marks submitted updates the
    /// aggregator did not aggregate (garbage). Allowed once every participant submitted, or
    /// after the deadline with at least `quorum` accepted updates.
    function publishAggregate(uint8 round, bytes32 model, uint32 refused) external {
        if (msg.sender != _aggregatorArg()) revert NotAggregator(msg.sender);
        if (_state != State.Running) revert NotRunning(_state);
        if (round != _round) revert WrongRound(_round, round);
        if (model == bytes32(0)) revert MissingCid();
        uint32 submitted = _submitted;
        if (refused & ~submitted != 0) revert RefusedNotSubmitted(refused);
        uint8 n = _participantCount;
        uint32 all = n == 32 ? type(uint32).max : (uint32(1) << n) - 1;
        uint8 accepted = _popcount(submitted & ~refused);
        uint64 deadline = _deadline;
        if (submitted != all && block.timestamp <= deadline) revert RoundStillOpen(deadline, accepted, _quorum);
        if (accepted < _quorum || accepted == 0) revert QuorumNotReached(accepted, _quorum);
        _model = model;
        emit RoundClosed(round, model, submitted, refused, all & ~submitted);
        if (round + 1 == _rounds) {
            _state = State.Finished;
            _submitted = 0;
            emit FederatedStateChanged(address(this), msg.sender, State.Running, State.Finished, 0);
        } else {
            _round = round + 1;
            _deadline = uint64(block.timestamp) + _roundSeconds;
            _submitted = 0;
        }
    }

    /// End a running task as failed (say, the quorum was not reached); `reason` names a document.
    function fail(bytes32 reason) external {
        if (msg.sender != _aggregatorArg() && msg.sender != _submitter) revert NotAggregator(msg.sender);
        if (_state != State.Running) revert NotRunning(_state);
        if (reason == bytes32(0)) revert MissingCid();
        _state = State.Failed;
        _failure = reason;
        emit FederatedStateChanged(address(this), msg.sender, State.Running, State.Failed, reason);
    }

    // ------------------------------------------------------------------ reading

    function snapshot() external view returns (Snapshot memory s) {
        _onlyClone();
        s.submitter = _submitter;
        s.aggregator = _aggregatorArg();
        s.aggregatorKey = _aggregatorKey;
        s.auditorKey = _auditorKey;
        s.plan = _plan;
        s.state = _state;
        s.round = _round;
        s.rounds = _rounds;
        s.quorum = _quorum;
        s.roundSeconds = _roundSeconds;
        s.deadline = _deadline;
        s.submitted = _submitted;
        s.model = _model;
        s.failure = _failure;
        s.participants = _participants;
    }

    // ------------------------------------------------------------------ internals

    function _onlyClone() private view {
        if (address(this) == _self) revert NotAClone();
    }

    /// The aggregator, written into the clone's code after the 45 proxy bytes (cheaper to read than storage).
    function _aggregatorArg() private view returns (address a) {
        assembly ("memory-safe") {
            extcodecopy(address(), 0x00, 45, 0x20)
            a := shr(96, mload(0x00))
        }
    }

    function _popcount(uint32 x) private pure returns (uint8 c) {
        while (x != 0) {
            x &= x - 1;
            ++c;
        }
    }
}
