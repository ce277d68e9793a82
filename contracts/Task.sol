// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Escrow} from "./Escrow.sol"; // escrow hook

/// @title Task: one processing task of eotrust and its lifecycle.
/// @notice Initialized --lock()--> RequestsLocked --all acks + start()--> Running --finish()--> Finished;
///         any refusal while RequestsLocked --> Nacked; Running --fail(reason)--> Failed (escrow
///         hook: a paid task only while it has no result);
///         (escrow hook) a paid task RequestsLocked or Running past its quote's deadline
///         --expire() by its escrow--> Expired.
///         Finished, Nacked, Failed and Expired are terminal: nothing changes afterwards.
/// @dev Deployed once as an implementation. Every task is an EIP-1167 minimal proxy of it,
///      made by TaskFactory, whose code carries, after the 45 proxy bytes (never executed),
///      the task's immutable arguments (see "Clone arguments" below): the parties the checks
///      need, (escrow hook) whether it must be funded, and the owners of the resource requests
///      made at creation. Code costs a fraction
///      of storage and can never change.
///
///      What a check needs lives in storage, in one word (slot 0): the state, the answers, the
///      counts. What only people and nodes read — catalogue ids, the results key, the
///      platform's key and policy, input and result CIDs, the execution id, the failure
///      reason — is written once, in this contract's events (and the factory's TaskCreated),
///      never in storage: `snapshot()` returns the checked state and eotrust's client reads
///      the rest from the task's logs (eotrust.ledger.task).
///      Every move checks the caller first, then the state.
///      CIDs are the sha2-256 digest of a dag-pb node (CIDv0 `Qm…`); keys are X25519 public
///      keys (the 32 bytes inside an `age1…` recipient).
contract Task {
    enum State {
        Initialized,
        RequestsLocked,
        Running,
        Finished,
        Nacked,
        Failed,
        Expired // escrow hook: a paid task its escrow ended at the quote's deadline
    }

    /// Status of one request (application, platform or resource).
    enum Status {
        None,
        Requested,
        Acknowledged,
        Refused
    }

    /// Which request an event or error is about.
    enum Kind {
        Application,
        Platform,
        Resource
    }

    struct Request {
        address owner;
        Status status;
    }

    /// What the contract checks with; the data is in the events.
    struct Snapshot {
        address factory; // the factory that made this clone: its TaskCreated event has the ids and key
        address submitter;
        State state;
        address applicationOwner;
        Status applicationStatus;
        address platformOwner;
        Status platformStatus;
        uint256 createdBlock; // the block of the task's creation: its events are from there on
        Request[] requests;
        uint256 resultCount;
    }

    // Clone arguments: offsets in a clone's code (after the 45-byte proxy). Fixed-size fields
    // first; a new field goes before ARG_REQUEST_COUNT (and into TaskFactory._create's
    // encodePacked, in the same order). Then the resource requests made at creation: their
    // count (1 byte) and owners (20 bytes each).
    uint256 internal constant ARG_SUBMITTER = 45; // address
    uint256 internal constant ARG_APPLICATION_OWNER = 65; // address
    uint256 internal constant ARG_PLATFORM_OWNER = 85; // address
    uint256 internal constant ARG_CREATED_BLOCK = 105; // uint32
    uint256 internal constant ARG_PAID = 109; // escrow hook: 1 byte, non-zero = payment required
    uint256 internal constant ARG_REQUEST_COUNT = 110; // uint8
    uint256 internal constant ARG_REQUEST_OWNERS = 111; // address[count]

    /// Resource requests per task: one acknowledgement bit each in slot 0.
    uint256 internal constant MAX_REQUESTS = 200;
    uint256 private constant MAX_RESULTS = type(uint8).max;

    address private immutable _self;
    address private immutable _factory;
    address private immutable _escrow; // escrow hook: the one Escrow of every clone of this implementation

    // slot 0: everything a move checks or changes, in one word
    State private _state;
    Status private _applicationStatus;
    Status private _platformStatus;
    uint8 private _requestCount; // including those made at creation
    uint8 private _resultCount;
    uint8 private _refused; // 1 + the index of the refused resource request (0: none)
    uint200 private _acknowledged; // bit i: resource request i acknowledged
    // owners of the resource requests added after creation (index >= the clone's count)
    mapping(uint256 => address) private _owners;

    /// The task's state moved; `cid` is the failure reason (fail) or 0.
    event StateChanged(address indexed party, State from, State to, bytes32 cid);
    /// A request was made or answered. `party` is the request's owner; `id` its catalogue id
    /// (0 in answers); `key` the platform's key (platform ack); `cid` the encrypted input
    /// (resource ack) or the platform's execution policy (platform ack).
    event RequestChanged(
        address indexed party,
        Kind kind,
        uint256 index,
        Status from,
        Status to,
        bytes32 id,
        bytes32 key,
        bytes32 cid
    );
    /// The runner started the execution `executionId`.
    event Started(address indexed party, bytes16 executionId);
    /// The collector recorded a result.
    event ResultAdded(address indexed party, address owner, uint256 index, bytes32 cid);

    error NotAClone();
    error NotFactory(address caller);
    error NotSubmitter(address caller);
    error NotApplicationOwner(address caller);
    error NotPlatformOwner(address caller);
    error NotRequestOwner(uint256 index, address caller);
    error WrongState(State current, State required);
    error AlreadyAnswered(Kind kind, uint256 index);
    error NotAcknowledged(Kind kind, uint256 index);
    error NoSuchRequest(uint256 index);
    error TooManyEntries();
    error LengthMismatch();
    error ZeroAddress();
    error MissingId();
    error MissingKey();
    error MissingCid();
    error NoResults();
    error NotFunded(); // escrow hook
    error PaidLock(); // escrow hook: a paid task is locked by its escrow, never at creation
    error ResultsRecorded(); // escrow hook: a paid task with a result is settled, not failed

    /// Deployed by the factory, which alone may initialize its clones.
    constructor() {
        _self = address(this);
        _factory = msg.sender;
        _escrow = address(new Escrow()); // escrow hook
    }

    // ------------------------------------------------------------------ factory, at creation

    /// Called by the factory in the transaction that creates the clone, when the submitter
    /// made resource requests at creation (their owners are clone arguments) or locked it
    /// at once: announces those requests and, with `lock_`, locks the task.
    function initialize(bytes32[] calldata datasetIds, bool lock_) external {
        _onlyClone();
        if (msg.sender != _factory) revert NotFactory(msg.sender);
        if (_state != State.Initialized || _requestCount != 0) revert WrongState(_state, State.Initialized);
        uint256 n = _bornCount();
        if (datasetIds.length != n) revert LengthMismatch();
        address submitter_ = _argAddress(ARG_SUBMITTER);
        for (uint256 i = 0; i < n; ++i) {
            if (datasetIds[i] == bytes32(0)) revert MissingId();
            emit RequestChanged(
                _argAddress(ARG_REQUEST_OWNERS + 20 * i), Kind.Resource, i, Status.None, Status.Requested, datasetIds[i], 0, 0
            );
        }
        _requestCount = uint8(n);
        if (lock_) {
            if (_paid()) revert PaidLock(); // escrow hook (the factory refuses it first)
            _lock(submitter_);
        }
    }

    // ------------------------------------------------------------------ submitter, Initialized

    function addRequest(bytes32 datasetId, address owner) external returns (uint256 index) {
        _onlySubmitterWhile(State.Initialized);
        index = _requestCount;
        _addRequest(index, datasetId, owner);
        _requestCount = uint8(index + 1);
    }

    /// Several resource requests in one transaction; returns the index of the first.
    function addRequests(bytes32[] calldata datasetIds, address[] calldata owners) external returns (uint256 first) {
        _onlySubmitterWhile(State.Initialized);
        if (datasetIds.length != owners.length) revert LengthMismatch();
        first = _requestCount;
        uint256 n = datasetIds.length;
        for (uint256 i = 0; i < n; ++i) {
            _addRequest(first + i, datasetIds[i], owners[i]);
        }
        _requestCount = uint8(first + n);
    }

    /// Close the configuration and ask every owner: the application and platform requests
    /// are made here (their RequestChanged events), the resource requests were made when added.
    function lock() external {
        // escrow hook: a paid task is locked by its escrow, in the call where the submitter funds it
        if (_paid()) {
            if (msg.sender != _escrow) revert NotFunded();
            _onlyCloneWhile(State.Initialized);
        } else {
            _onlySubmitterWhile(State.Initialized);
        }
        _lock(msg.sender);
    }

    // ------------------------------------------------------------------ owners, RequestsLocked

    function ackApplication() external {
        _answerApplication(Status.Acknowledged);
    }

    function nackApplication() external {
        _answerApplication(Status.Refused);
    }

    /// @param key the platform's X25519 public key: inputs are encrypted for it.
    /// @param policy CID digest of the platform's execution policy document, or 0 for the default.
    function ackPlatform(bytes32 key, bytes32 policy) external {
        _answerPlatform(Status.Acknowledged, key, policy);
    }

    function nackPlatform() external {
        _answerPlatform(Status.Refused, 0, 0);
    }

    /// @param input CID digest of the encrypted input the data owner stored for the platform.
    function ackRequest(uint256 index, bytes32 input) external {
        _answerRequest(index, true, input);
    }

    /// Several of the caller's resource requests acknowledged in one transaction.
    function ackRequests(uint256[] calldata indices, bytes32[] calldata inputs) external {
        if (indices.length != inputs.length) revert LengthMismatch();
        for (uint256 i = 0; i < indices.length; ++i) {
            _answerRequest(indices[i], true, inputs[i]);
        }
    }

    function nackRequest(uint256 index) external {
        _answerRequest(index, false, 0);
    }

    // ------------------------------------------------------------------ platform: runner, collector

    function start(bytes16 executionId) external {
        _onlyPlatformWhile(State.RequestsLocked);
        if (executionId == bytes16(0)) revert MissingId();
        if (_applicationStatus != Status.Acknowledged) revert NotAcknowledged(Kind.Application, 0);
        if (_platformStatus != Status.Acknowledged) revert NotAcknowledged(Kind.Platform, 0);
        uint256 n = _requestCount;
        uint256 acked = _acknowledged;
        if (acked != (uint256(1) << n) - 1) {
            for (uint256 i = 0; i < n; ++i) {
                if (acked & (uint256(1) << i) == 0) revert NotAcknowledged(Kind.Resource, i);
            }
        }
        _move(State.RequestsLocked, State.Running, 0);
        emit Started(msg.sender, executionId);
    }

    function addResult(address owner, bytes32 cid) external returns (uint256 index) {
        _onlyPlatformWhile(State.Running);
        if (owner == address(0)) revert ZeroAddress();
        if (cid == bytes32(0)) revert MissingCid();
        index = _resultCount;
        if (index >= MAX_RESULTS) revert TooManyEntries();
        _resultCount = uint8(index + 1);
        emit ResultAdded(msg.sender, owner, index, cid);
    }

    function finish() external {
        // escrow hook: a paid task is finished by its escrow, in the call where the platform settles it
        if (_paid()) {
            if (msg.sender != _escrow) revert NotFunded();
            _onlyCloneWhile(State.Running);
        } else {
            _onlyPlatformWhile(State.Running);
        }
        if (_resultCount == 0) revert NoResults();
        _move(State.Running, State.Finished, 0);
    }

    // escrow hook: a paid task still waiting for answers or running when its quote's deadline
    // passed is ended by its escrow (Escrow.expire checks the deadline and refunds the submitter)
    function expire() external {
        _onlyClone();
        if (!_paid() || msg.sender != _escrow) revert NotFunded();
        State s = _state;
        if (s != State.RequestsLocked && s != State.Running) revert WrongState(s, State.Running);
        _move(s, State.Expired, 0);
    }

    /// @param reason CID digest of a document saying why the execution failed.
    function fail(bytes32 reason) external {
        _onlyPlatformWhile(State.Running);
        if (reason == bytes32(0)) revert MissingCid();
        // escrow hook: a paid task with a result recorded is settled (the owners paid their
        // prices), never failed for the failure fee alone
        if (_resultCount != 0 && _paid()) revert ResultsRecorded();
        _move(State.Running, State.Failed, reason);
    }

    // ------------------------------------------------------------------ reading

    function submitter() external view returns (address) {
        _onlyClone();
        return _argAddress(ARG_SUBMITTER);
    }

    function state() external view returns (State) {
        _onlyClone();
        return _state;
    }

    // escrow hook: what the escrow checks a quote against (two clone arguments: no storage read)
    function parties() external view returns (address submitter_, address platformOwner) {
        _onlyClone();
        return (_argAddress(ARG_SUBMITTER), _argAddress(ARG_PLATFORM_OWNER));
    }

    // escrow hook: the one escrow of this deployment (also on the implementation)
    function escrow() external view returns (address) {
        return _escrow;
    }

    // escrow hook: how many results are recorded (a paid task with one pays its owners on expiry)
    function resultCount() external view returns (uint256) {
        _onlyClone();
        return _resultCount;
    }

    // escrow hook: whether this task must be funded through the escrow
    function paymentRequired() external view returns (bool) {
        _onlyClone();
        return _paid();
    }

    function snapshot() external view returns (Snapshot memory s) {
        _onlyClone();
        s.factory = _factory;
        s.submitter = _argAddress(ARG_SUBMITTER);
        s.state = _state;
        s.applicationOwner = _argAddress(ARG_APPLICATION_OWNER);
        s.applicationStatus = _applicationStatus;
        s.platformOwner = _argAddress(ARG_PLATFORM_OWNER);
        s.platformStatus = _platformStatus;
        s.createdBlock = uint32(bytes4(_argWord(ARG_CREATED_BLOCK)));
        uint256 n = _requestCount;
        s.requests = new Request[](n);
        for (uint256 i = 0; i < n; ++i) {
            s.requests[i] = Request(_ownerOf(i), _requestStatus(i));
        }
        s.resultCount = _resultCount;
    }

    // ------------------------------------------------------------------ internals

    function _onlyClone() private view {
        if (address(this) == _self) revert NotAClone();
    }

    function _argWord(uint256 offset) private view returns (bytes32 word) {
        assembly ("memory-safe") {
            extcodecopy(address(), 0x00, offset, 0x20)
            word := mload(0x00)
        }
    }

    function _argAddress(uint256 offset) private view returns (address a) {
        return address(bytes20(_argWord(offset)));
    }

    function _bornCount() private view returns (uint256) {
        return uint8(bytes1(_argWord(ARG_REQUEST_COUNT)));
    }

    /// The owner of resource request `index` (< _requestCount): a clone argument for those made
    /// at creation, storage for those added later.
    function _ownerOf(uint256 index) private view returns (address) {
        if (index < _bornCount()) return _argAddress(ARG_REQUEST_OWNERS + 20 * index);
        return _owners[index];
    }

    function _requestStatus(uint256 index) private view returns (Status) {
        if (_acknowledged & (uint256(1) << index) != 0) return Status.Acknowledged;
        if (_refused == index + 1) return Status.Refused;
        return Status.Requested;
    }

    // escrow hook
    function _paid() private view returns (bool) {
        return uint256(_argWord(ARG_PAID)) >> 248 != 0;
    }

    // escrow hook
    function _onlyCloneWhile(State required) private view {
        _onlyClone();
        if (_state != required) revert WrongState(_state, required);
    }

    function _onlySubmitterWhile(State required) private view {
        _onlyClone();
        if (msg.sender != _argAddress(ARG_SUBMITTER)) revert NotSubmitter(msg.sender);
        if (_state != required) revert WrongState(_state, required);
    }

    function _onlyPlatformWhile(State required) private view {
        _onlyClone();
        if (msg.sender != _argAddress(ARG_PLATFORM_OWNER)) revert NotPlatformOwner(msg.sender);
        if (_state != required) revert WrongState(_state, required);
    }

    function _move(State from, State to, bytes32 cid) private {
        _state = to;
        emit StateChanged(msg.sender, from, to, cid);
    }

    function _lock(address party) private {
        _applicationStatus = Status.Requested;
        _platformStatus = Status.Requested;
        _state = State.RequestsLocked;
        emit StateChanged(party, State.Initialized, State.RequestsLocked, 0);
        emit RequestChanged(
            _argAddress(ARG_APPLICATION_OWNER), Kind.Application, 0, Status.None, Status.Requested, 0, 0, 0
        );
        emit RequestChanged(_argAddress(ARG_PLATFORM_OWNER), Kind.Platform, 0, Status.None, Status.Requested, 0, 0, 0);
    }

    function _addRequest(uint256 index, bytes32 datasetId, address owner) private {
        if (owner == address(0)) revert ZeroAddress();
        if (datasetId == bytes32(0)) revert MissingId();
        if (index >= MAX_REQUESTS) revert TooManyEntries();
        _owners[index] = owner;
        emit RequestChanged(owner, Kind.Resource, index, Status.None, Status.Requested, datasetId, 0, 0);
    }

    function _answerApplication(Status answer) private {
        _onlyClone();
        if (msg.sender != _argAddress(ARG_APPLICATION_OWNER)) revert NotApplicationOwner(msg.sender);
        if (_state != State.RequestsLocked) revert WrongState(_state, State.RequestsLocked);
        if (_applicationStatus != Status.Requested) revert AlreadyAnswered(Kind.Application, 0);
        _applicationStatus = answer;
        emit RequestChanged(msg.sender, Kind.Application, 0, Status.Requested, answer, 0, 0, 0);
        if (answer == Status.Refused) _move(State.RequestsLocked, State.Nacked, 0);
    }

    function _answerPlatform(Status answer, bytes32 key, bytes32 policy) private {
        _onlyClone();
        if (msg.sender != _argAddress(ARG_PLATFORM_OWNER)) revert NotPlatformOwner(msg.sender);
        if (_state != State.RequestsLocked) revert WrongState(_state, State.RequestsLocked);
        if (_platformStatus != Status.Requested) revert AlreadyAnswered(Kind.Platform, 0);
        if (answer == Status.Acknowledged && key == bytes32(0)) revert MissingKey();
        _platformStatus = answer;
        emit RequestChanged(msg.sender, Kind.Platform, 0, Status.Requested, answer, 0, key, policy);
        if (answer == Status.Refused) _move(State.RequestsLocked, State.Nacked, 0);
    }

    function _answerRequest(uint256 index, bool ack, bytes32 input) private {
        _onlyClone();
        if (index >= _requestCount) revert NoSuchRequest(index);
        if (msg.sender != _ownerOf(index)) revert NotRequestOwner(index, msg.sender);
        if (_state != State.RequestsLocked) revert WrongState(_state, State.RequestsLocked);
        if (_requestStatus(index) != Status.Requested) revert AlreadyAnswered(Kind.Resource, index);
        if (ack && input == bytes32(0)) revert MissingCid();
        Status answer;
        if (ack) {
            _acknowledged |= uint200(uint256(1) << index);
            answer = Status.Acknowledged;
        } else {
            _refused = uint8(index + 1);
            answer = Status.Refused;
        }
        emit RequestChanged(msg.sender, Kind.Resource, index, Status.Requested, answer, 0, 0, input);
        if (!ack) _move(State.RequestsLocked, State.Nacked, 0);
    }
}
