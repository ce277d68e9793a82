// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

interface IWithdraw {
    function withdraw() external;
}

/// @title ReentrantPayee: a payee that re-enters the escrow when paid (tests only).
/// @notice On every payment it tries `withdraw` again (up to `depth` times), swallowing the
///         failure so the outer payment still succeeds: it must get exactly what it is owed.
///         With `refuse` it reverts on every payment instead (a payee that cannot be paid must
///         not block anyone else).
contract ReentrantPayee {
    IWithdraw public immutable escrow;
    uint256 public depth;
    uint256 public attempts;
    uint256 public received;
    bool public refuse;

    error Refused();

    constructor(address escrow_, uint256 depth_, bool refuse_) {
        escrow = IWithdraw(escrow_);
        depth = depth_;
        refuse = refuse_;
    }

    function collect() external {
        escrow.withdraw();
    }

    receive() external payable {
        if (refuse) revert Refused();
        received += msg.value;
        if (attempts < depth) {
            ++attempts;
            try escrow.withdraw() {} catch {}
        }
    }
}
