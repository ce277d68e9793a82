// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// What the escrow needs of a task (Task.sol; see its "escrow hook" lines).
interface IEscrowedTask {
    function parties() external view returns (address submitter, address platformOwner);
    function state() external view returns (uint8);
    function lock() external;
    function finish() external;
    function expire() external;
    function resultCount() external view returns (uint256);
}

/// @title Escrow: the platform-signed quote of a paid task, its money, and who is owed what.
/// @notice One Escrow per deployment (the Task implementation creates it; every task of the
///         factory names it). A paid task (created with `paid`) is locked only through
///         `fund`: the submitter pays the quote's total, signed by the task's platform (EIP-712),
///         and the escrow locks the task in the same call, so an unfunded task can neither be
///         locked nor started. The platform finishes a paid task through `settle`, with the CID
///         of its signed usage record and the actual amount per payee (each at most that payee's
///         quoted maximum and at least its minimum: an owner's fixed price is not the platform's
///         to cut), by the quote's `deadline`: each payee is credited its amount and the
///         submitter the rest, in the same call that finishes the task. A Nacked task is
///         refunded in full and a Failed one pays the quote's `failFee` to the platform and the
///         rest to the submitter (`release`, anyone may call it; released after the deadline, a
///         Failed task pays no fee). A task neither finished nor ended by the deadline (an owner
///         who never answered, a platform that never finished) is `expire`d: anyone may call it
///         after the deadline; the task ends Expired and the submitter gets everything back, so
///         no silent party can hold the money for ever. Every credit is pulled by its owner with
///         `withdraw`, so no party can block another's payment.
/// @dev Per task the escrow stores one word while money is locked: the EIP-712 hash of the
///      funded quote (so settle and release take the quote again as calldata and must match it).
///      Balances are stored plus one: a party that has been paid once keeps a non-zero word, so
///      later credits cost a warm-up read and a non-zero write, never a fresh word.
///      Checks, effects, then interactions; every state-changing entry point holds a transient
///      reentrancy lock. A contract that pretends to be a task can only move money that was
///      deposited for it, under a quote its own "platform" signed.
contract Escrow {
    /// A quote: what the platform charges at most for one task, to whom, until when.
    struct Quote {
        address task;
        address submitter;
        address platform; // the signer: must be the task's platform owner
        address[] payees;
        uint256[] maxima; // the most each payee may be paid (wei), same order as payees
        uint256[] minima; // the least each payee is paid when the task is settled (its fixed prices)
        uint256 total; // the sum of the maxima: what the submitter escrows
        uint256 failFee; // paid to the platform if the task Fails (the rest goes back)
        uint64 validUntil; // unix seconds; funding after that is refused
        uint64 deadline; // unix seconds (>= validUntil); settling after that is refused, expiring before it
        bytes32 quoteCid; // CID digest of the platform's itemised quote document
    }

    uint256 public constant MAX_PAYEES = 32;
    uint8 private constant STATE_RUNNING = 2;
    uint8 private constant STATE_NACKED = 4;
    uint8 private constant STATE_FAILED = 5;
    /// secp256k1n / 2: a higher `s` is the malleable twin of a valid signature.
    uint256 private constant HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    bytes32 public constant QUOTE_TYPEHASH = keccak256(
        "Quote(address task,address submitter,address platform,address[] payees,uint256[] maxima,uint256[] minima,uint256 total,uint256 failFee,uint64 validUntil,uint64 deadline,bytes32 quoteCid)"
    );
    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant NAME_HASH = keccak256("eotrust Escrow");
    bytes32 private constant VERSION_HASH = keccak256("1");
    uint256 private immutable _chainId;
    bytes32 private immutable _domainSeparator;

    /// Per task: the EIP-712 hash of its funded quote while money is locked, else 0.
    mapping(address => bytes32) private _locked;
    /// Per party: what it is owed plus one (0: never credited).
    mapping(address => uint256) private _owedPlusOne;
    bool private transient _entered;

    /// `task` was funded with the quote whose EIP-712 hash is `quoteHash` (the quote itself is
    /// in the transaction's calldata; events stay small to keep the lifecycle cheap).
    event Funded(address indexed task, address indexed submitter, bytes32 quoteHash, uint256 total);
    /// The platform settled a finished task: the amounts per payee are in the transaction's
    /// calldata, `refund` went back to the submitter.
    event Settled(address indexed task, bytes32 usageCid, uint256 refund);
    /// A Nacked (refund in full) or Failed (failFee to the platform) task was released.
    event Released(address indexed task, uint8 state, uint256 toPlatform, uint256 toSubmitter);
    /// A task past its quote's deadline, neither finished nor ended, was expired: `refund` went
    /// back to the submitter (the quote's total; less the payees' minima when it had a result).
    event Expired(address indexed task, uint256 refund);
    event Withdrawn(address indexed party, uint256 amount);

    error Reentered();
    error QuoteExpired(uint256 validUntil, uint256 now);
    error NotQuotedSubmitter(address caller);
    error WrongSubmitter(address quoted, address actual);
    error WrongPlatform(address quoted, address actual);
    error BadQuote();
    error BadSignature();
    error WrongAmount(uint256 sent, uint256 total);
    error AlreadyFunded(address task);
    error NotFunded(address task);
    error WrongQuote(address task);
    error NotQuotedPlatform(address caller);
    error AboveQuote(uint256 index, uint256 amount, uint256 maximum);
    error BelowQuote(uint256 index, uint256 amount, uint256 minimum);
    error WrongAmountCount(uint256 given, uint256 payees);
    error MissingCid();
    error NotReleasable(uint8 state);
    error DeadlinePassed(uint256 deadline, uint256 now);
    error NotYetExpired(uint256 deadline, uint256 now);
    error NotExpirable(uint8 state);
    error NothingOwed(address party);
    error TransferFailed(address party);

    constructor() {
        _chainId = block.chainid;
        _domainSeparator = _separator();
    }

    modifier nonReentrant() {
        if (_entered) revert Reentered();
        _entered = true;
        _;
        _entered = false;
    }

    // ------------------------------------------------------------------ submitter

    /// Pay the quote's total for `q.task` and lock the task (its lock; the submitter's move).
    function fund(Quote calldata q, bytes calldata signature) external payable nonReentrant {
        if (block.timestamp > q.validUntil) revert QuoteExpired(q.validUntil, block.timestamp);
        if (msg.sender != q.submitter) revert NotQuotedSubmitter(msg.sender);
        uint256 n = q.payees.length;
        if (
            n == 0 || n > MAX_PAYEES || q.maxima.length != n || q.minima.length != n || q.failFee > q.total
                || q.deadline < q.validUntil
        ) {
            revert BadQuote();
        }
        uint256 sum;
        for (uint256 i = 0; i < n; ++i) {
            if (q.payees[i] == address(0) || q.minima[i] > q.maxima[i]) revert BadQuote();
            sum += q.maxima[i];
        }
        if (sum != q.total) revert BadQuote();
        if (msg.value != q.total) revert WrongAmount(msg.value, q.total);
        if (_locked[q.task] != 0) revert AlreadyFunded(q.task);
        bytes32 structHash = _structHash(q);
        if (_recover(_digest(structHash), signature) != q.platform) revert BadSignature();
        (address submitter, address platformOwner) = IEscrowedTask(q.task).parties();
        if (submitter != q.submitter) revert WrongSubmitter(q.submitter, submitter);
        if (platformOwner != q.platform) revert WrongPlatform(q.platform, platformOwner);
        _locked[q.task] = structHash;
        emit Funded(q.task, q.submitter, structHash, q.total);
        IEscrowedTask(q.task).lock(); // reverts unless the task is paid, names this escrow and is Initialized
    }

    // ------------------------------------------------------------------ platform

    /// Finish the running task `q.task`, paying `amounts[i]` to `q.payees[i]` for the use
    /// recorded in the signed usage record `usageCid`; the rest goes back to the submitter.
    /// Only until the quote's deadline: after it the task is expired.
    function settle(Quote calldata q, bytes32 usageCid, uint256[] calldata amounts) external nonReentrant {
        _unlock(q);
        if (msg.sender != q.platform) revert NotQuotedPlatform(msg.sender);
        if (block.timestamp > q.deadline) revert DeadlinePassed(q.deadline, block.timestamp);
        if (usageCid == bytes32(0)) revert MissingCid();
        uint256 n = amounts.length;
        if (n != q.payees.length) revert WrongAmountCount(n, q.payees.length);
        uint256 paid;
        for (uint256 i = 0; i < n; ++i) {
            uint256 amount = amounts[i];
            if (amount > q.maxima[i]) revert AboveQuote(i, amount, q.maxima[i]);
            if (amount < q.minima[i]) revert BelowQuote(i, amount, q.minima[i]);
            _credit(q.payees[i], amount);
            unchecked {
                paid += amount; // each at most its maximum, and the maxima sum to the total (checked by fund)
            }
        }
        uint256 refund;
        unchecked {
            refund = q.total - paid;
        }
        _credit(q.submitter, refund);
        emit Settled(q.task, usageCid, refund);
        IEscrowedTask(q.task).finish(); // reverts unless the task is Running with a result
    }

    // ------------------------------------------------------------------ anyone

    /// Release a Nacked task (all back to the submitter) or a Failed one (the quote's failFee
    /// to the platform, the rest to the submitter; all back once the deadline has passed, so a
    /// platform that let the deadline pass cannot fail the task then for its fee).
    function release(Quote calldata q) external nonReentrant {
        _unlock(q);
        uint8 s = IEscrowedTask(q.task).state();
        uint256 toPlatform;
        if (s == STATE_FAILED) {
            if (block.timestamp <= q.deadline) toPlatform = q.failFee;
        } else if (s != STATE_NACKED) {
            revert NotReleasable(s);
        }
        _credit(q.platform, toPlatform);
        _credit(q.submitter, q.total - toPlatform);
        emit Released(q.task, s, toPlatform, q.total - toPlatform);
    }

    /// After the quote's deadline, end a task that is still waiting for an answer or still
    /// running (it becomes Expired) and give the submitter the quote's total back — less, when
    /// the task has a result recorded (the submitter has it), each payee's minimum (an owner's
    /// fixed price; the late platform's measured share is forfeit).
    function expire(Quote calldata q) external nonReentrant {
        _unlock(q);
        if (block.timestamp <= q.deadline) revert NotYetExpired(q.deadline, block.timestamp);
        IEscrowedTask task = IEscrowedTask(q.task);
        uint8 s = task.state();
        if (s > STATE_RUNNING) revert NotExpirable(s); // Nacked or Failed: release it
        uint256 refund = q.total;
        if (s == STATE_RUNNING && task.resultCount() != 0) {
            uint256 n = q.payees.length;
            for (uint256 i = 0; i < n; ++i) {
                _credit(q.payees[i], q.minima[i]);
                refund -= q.minima[i]; // the minima are at most the maxima, which sum to the total (fund)
            }
        }
        _credit(q.submitter, refund);
        emit Expired(q.task, refund);
        IEscrowedTask(q.task).expire(); // reverts unless the task is paid, names this escrow and is locked or running
    }

    /// Pay the caller everything it is owed.
    function withdraw() external nonReentrant {
        uint256 stored = _owedPlusOne[msg.sender];
        if (stored <= 1) revert NothingOwed(msg.sender);
        uint256 amount = stored - 1;
        _owedPlusOne[msg.sender] = 1;
        emit Withdrawn(msg.sender, amount);
        (bool ok,) = payable(msg.sender).call{value: amount}("");
        if (!ok) revert TransferFailed(msg.sender);
    }

    // ------------------------------------------------------------------ reading

    /// Whether the escrow holds money for `task` now (funded, not yet settled or released).
    function funded(address task) external view returns (bool) {
        return _locked[task] != 0;
    }

    /// The EIP-712 hash of the quote funded for `task` while its money is locked, else 0.
    function lockedQuote(address task) external view returns (bytes32) {
        return _locked[task];
    }

    /// What `party` may withdraw now.
    function owed(address party) external view returns (uint256) {
        uint256 stored = _owedPlusOne[party];
        return stored == 0 ? 0 : stored - 1;
    }

    /// The EIP-712 digest the platform signs for `q`.
    function quoteDigest(Quote calldata q) external view returns (bytes32) {
        return _digest(_structHash(q));
    }

    function domainSeparator() public view returns (bytes32) {
        return block.chainid == _chainId ? _domainSeparator : _separator();
    }

    // ------------------------------------------------------------------ internals

    function _unlock(Quote calldata q) private {
        bytes32 stored = _locked[q.task];
        if (stored == 0) revert NotFunded(q.task);
        if (stored != _structHash(q)) revert WrongQuote(q.task);
        delete _locked[q.task];
    }

    function _credit(address party, uint256 amount) private {
        if (amount == 0) return;
        uint256 stored = _owedPlusOne[party];
        unchecked {
            // never overflows: every credit is ether this contract holds
            _owedPlusOne[party] = (stored == 0 ? 1 : stored) + amount;
        }
    }

    function _structHash(Quote calldata q) private pure returns (bytes32) {
        return keccak256(
            abi.encode(
                QUOTE_TYPEHASH,
                q.task,
                q.submitter,
                q.platform,
                keccak256(abi.encodePacked(q.payees)),
                keccak256(abi.encodePacked(q.maxima)),
                keccak256(abi.encodePacked(q.minima)),
                q.total,
                q.failFee,
                q.validUntil,
                q.deadline,
                q.quoteCid
            )
        );
    }

    function _separator() private view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
    }

    function _digest(bytes32 structHash) private view returns (bytes32) {
        return keccak256(abi.encodePacked(hex"1901", domainSeparator(), structHash));
    }

    /// The signer of `digest` (ecrecover precompile); 0 for a malformed or malleable signature.
    function _recover(bytes32 digest, bytes calldata signature) private pure returns (address) {
        if (signature.length != 65) return address(0);
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (uint256(s) > HALF_N || (v != 27 && v != 28)) return address(0);
        return ecrecover(digest, v, r, s);
    }
}
