// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Escrow} from "./Escrow.sol"; // escrow hook

/// @title Task: one processing task of eotrust and its lifecycle.
/// @notice Initialized --lock()--> RequestsLocked --all acks + start()--> Running --finish()--> Finished;
///         any refusal while RequestsLocked --> Nacked; Running --fail(reason)--> Failed.
///         Finished, Nacked and Failed are terminal: nothing changes afterwards.
/// @dev Deployed once as an implementation. Every task is an EIP-1167 minimal proxy of it,
///      made by TaskFactory, whose code carries what the submitter fixed at creation after the
///      45 proxy bytes (never executed): submitter, results key, application (id, owner) and
///      platform (id, owner), and (escrow hook) one byte: whether it must be funded. Those are written once, as code, which costs a fraction of
///      storage, and can never change. Everything that moves lives in storage.
///      Every move checks the caller first, then the state.
///      CIDs are stored as their sha2-256 digest: every object eotrust names is a dag-pb node
///      hashed with sha2-256 (CIDv0 `Qm…`), so the 32-byte digest is the whole CID.
///      Keys are X25519 public keys (the 32 bytes inside an `age1…` recipient).
contract Task {
    enum State {
        Initialized,
        RequestsLocked,
        Running,
        Finished,
        Nacked,
        Failed
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
        bytes32 id; // catalogue id of the dataset
        bytes32 input; // CID digest of the stored, encrypted input (set by the owner's ack)
    }

    struct Result {
        address owner;
        bytes32 cid; // CID digest of the stored, encrypted result
    }

    struct Snapshot {
        address submitter;
        State state;
        bytes32 resultsKey;
        bytes32 applicationId;
        address applicationOwner;
        Status applicationStatus;
        bytes32 platformId;
        address platformOwner;
        Status platformStatus;
        bytes32 platformKey;
        bytes32 platformPolicy;
        bytes16 executionId;
        bytes32 failure;
        Request[] requests;
        Result[] results;
    }

    // Offsets of the creation arguments in a clone's code (after the 45-byte proxy).
    uint256 internal constant ARG_SUBMITTER = 45; // address
    uint256 internal constant ARG_RESULTS_KEY = 65; // bytes32
    uint256 internal constant ARG_APPLICATION_ID = 97; // bytes32
    uint256 internal constant ARG_APPLICATION_OWNER = 129; // address
    uint256 internal constant ARG_PLATFORM_ID = 149; // bytes32
    uint256 internal constant ARG_PLATFORM_OWNER = 181; // address
    uint256 internal constant ARG_PAID = 201; // escrow hook: 1 byte, non-zero = payment required
    uint256 internal constant ARGS_END = 202;

    uint256 private constant MAX_ENTRIES = type(uint8).max;

    address private immutable _self;
    address private immutable _escrow; // escrow hook: the one Escrow of every clone of this implementation

    // slot 0: everything a move reads or writes, in one word
    State private _state;
    Status private _applicationStatus;
    Status private _platformStatus;
    uint8 private _requestCount;
    uint8 private _resultCount;
    bytes16 private _executionId; // the runner's execution id (a UUID)
    // written by answers and outcomes
    bytes32 private _platformKey; // inputs are encrypted for this key
    bytes32 private _platformPolicy; // CID digest of the platform's execution policy (0 = default)
    bytes32 private _failure; // CID digest of the failure reason
    mapping(uint256 => Request) private _requests;
    mapping(uint256 => bytes32) private _resultCids; // CID digests of the stored, encrypted results
    mapping(uint256 => address) private _resultOwners; // only where the owner is not the submitter

    /// The task's state moved; `cid` is the failure reason (fail) or 0.
    event StateChanged(address indexed task, address indexed party, State from, State to, bytes32 cid);
    /// A request was made or answered. `party` is the request's owner; `id` its catalogue id
    /// (0 in answers); `key` the platform's key (platform ack); `cid` the encrypted input
    /// (resource ack) or the platform's execution policy (platform ack).
    event RequestChanged(
        address indexed task,
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
    event Started(address indexed task, address indexed party, bytes16 executionId);
    /// The collector recorded a result.
    event ResultAdded(address indexed task, address indexed party, address owner, uint256 index, bytes32 cid);

    error NotAClone();
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

    constructor() {
        _self = address(this);
        _escrow = address(new Escrow()); // escrow hook
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
        _applicationStatus = Status.Requested;
        _platformStatus = Status.Requested;
        _move(State.Initialized, State.RequestsLocked, 0);
        emit RequestChanged(
            address(this),
            _argAddress(ARG_APPLICATION_OWNER),
            Kind.Application,
            0,
            Status.None,
            Status.Requested,
            _argWord(ARG_APPLICATION_ID),
            0,
            0
        );
        emit RequestChanged(
            address(this),
            _argAddress(ARG_PLATFORM_OWNER),
            Kind.Platform,
            0,
            Status.None,
            Status.Requested,
            _argWord(ARG_PLATFORM_ID),
            0,
            0
        );
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
        _answerRequest(index, Status.Acknowledged, input);
    }

    function nackRequest(uint256 index) external {
        _answerRequest(index, Status.Refused, 0);
    }

    // ------------------------------------------------------------------ platform: runner, collector

    function start(bytes16 executionId) external {
        _onlyPlatformWhile(State.RequestsLocked);
        if (executionId == bytes16(0)) revert MissingId();
        if (_applicationStatus != Status.Acknowledged) revert NotAcknowledged(Kind.Application, 0);
        if (_platformStatus != Status.Acknowledged) revert NotAcknowledged(Kind.Platform, 0);
        uint256 n = _requestCount;
        for (uint256 i = 0; i < n; ++i) {
            if (_requests[i].status != Status.Acknowledged) revert NotAcknowledged(Kind.Resource, i);
        }
        _executionId = executionId;
        _move(State.RequestsLocked, State.Running, 0);
        emit Started(address(this), msg.sender, executionId);
    }

    function addResult(address owner, bytes32 cid) external returns (uint256 index) {
        _onlyPlatformWhile(State.Running);
        if (owner == address(0)) revert ZeroAddress();
        if (cid == bytes32(0)) revert MissingCid();
        index = _resultCount;
        if (index >= MAX_ENTRIES) revert TooManyEntries();
        _resultCids[index] = cid;
        if (owner != _argAddress(ARG_SUBMITTER)) _resultOwners[index] = owner;
        _resultCount = uint8(index + 1);
        emit ResultAdded(address(this), msg.sender, owner, index, cid);
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

    /// @param reason CID digest of a document saying why the execution failed.
    function fail(bytes32 reason) external {
        _onlyPlatformWhile(State.Running);
        if (reason == bytes32(0)) revert MissingCid();
        _failure = reason;
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

    // escrow hook: what the escrow checks a quote against
    function parties() external view returns (address submitter_, address platformOwner) {
        _onlyClone();
        return (_argAddress(ARG_SUBMITTER), _argAddress(ARG_PLATFORM_OWNER));
    }

    // escrow hook: the one escrow of this deployment (also on the implementation)
    function escrow() external view returns (address) {
        return _escrow;
    }

    // escrow hook: whether this task must be funded through the escrow
    function paymentRequired() external view returns (bool) {
        _onlyClone();
        return _paid();
    }

    function snapshot() external view returns (Snapshot memory s) {
        _onlyClone();
        s.submitter = _argAddress(ARG_SUBMITTER);
        s.state = _state;
        s.resultsKey = _argWord(ARG_RESULTS_KEY);
        s.applicationId = _argWord(ARG_APPLICATION_ID);
        s.applicationOwner = _argAddress(ARG_APPLICATION_OWNER);
        s.applicationStatus = _applicationStatus;
        s.platformId = _argWord(ARG_PLATFORM_ID);
        s.platformOwner = _argAddress(ARG_PLATFORM_OWNER);
        s.platformStatus = _platformStatus;
        s.platformKey = _platformKey;
        s.platformPolicy = _platformPolicy;
        s.executionId = _executionId;
        s.failure = _failure;
        uint256 n = _requestCount;
        s.requests = new Request[](n);
        for (uint256 i = 0; i < n; ++i) {
            s.requests[i] = _requests[i];
        }
        n = _resultCount;
        s.results = new Result[](n);
        for (uint256 i = 0; i < n; ++i) {
            address owner = _resultOwners[i];
            s.results[i] = Result(owner == address(0) ? s.submitter : owner, _resultCids[i]);
        }
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
        assembly ("memory-safe") {
            extcodecopy(address(), 0x00, offset, 0x20)
            a := shr(96, mload(0x00))
        }
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
        emit StateChanged(address(this), msg.sender, from, to, cid);
    }

    function _addRequest(uint256 index, bytes32 datasetId, address owner) private {
        if (owner == address(0)) revert ZeroAddress();
        if (datasetId == bytes32(0)) revert MissingId();
        if (index >= MAX_ENTRIES) revert TooManyEntries();
        _requests[index] = Request(owner, Status.Requested, datasetId, bytes32(0));
        emit RequestChanged(
            address(this), owner, Kind.Resource, index, Status.None, Status.Requested, datasetId, 0, 0
        );
    }

    function _answerApplication(Status answer) private {
        _onlyClone();
        if (msg.sender != _argAddress(ARG_APPLICATION_OWNER)) revert NotApplicationOwner(msg.sender);
        if (_state != State.RequestsLocked) revert WrongState(_state, State.RequestsLocked);
        if (_applicationStatus != Status.Requested) revert AlreadyAnswered(Kind.Application, 0);
        _applicationStatus = answer;
        emit RequestChanged(address(this), msg.sender, Kind.Application, 0, Status.Requested, answer, 0, 0, 0);
        if (answer == Status.Refused) _move(State.RequestsLocked, State.Nacked, 0);
    }

    function _answerPlatform(Status answer, bytes32 key, bytes32 policy) private {
        _onlyClone();
        if (msg.sender != _argAddress(ARG_PLATFORM_OWNER)) revert NotPlatformOwner(msg.sender);
        if (_state != State.RequestsLocked) revert WrongState(_state, State.RequestsLocked);
        if (_platformStatus != Status.Requested) revert AlreadyAnswered(Kind.Platform, 0);
        if (answer == Status.Acknowledged && key == bytes32(0)) revert MissingKey();
        _platformStatus = answer;
        if (key != bytes32(0)) _platformKey = key;
        if (policy != bytes32(0)) _platformPolicy = policy;
        emit RequestChanged(address(this), msg.sender, Kind.Platform, 0, Status.Requested, answer, 0, key, policy);
        if (answer == Status.Refused) _move(State.RequestsLocked, State.Nacked, 0);
    }

    function _answerRequest(uint256 index, Status answer, bytes32 input) private {
        _onlyClone();
        if (index >= _requestCount) revert NoSuchRequest(index);
        Request storage r = _requests[index];
        if (msg.sender != r.owner) revert NotRequestOwner(index, msg.sender);
        if (_state != State.RequestsLocked) revert WrongState(_state, State.RequestsLocked);
        if (r.status != Status.Requested) revert AlreadyAnswered(Kind.Resource, index);
        if (answer == Status.Acknowledged && input == bytes32(0)) revert MissingCid();
        r.status = answer;
        if (input != bytes32(0)) r.input = input;
        emit RequestChanged(address(this), msg.sender, Kind.Resource, index, Status.Requested, answer, 0, 0, input);
        if (answer == Status.Refused) _move(State.RequestsLocked, State.Nacked, 0);
    }
}
