"""Redis integration (RED-1, RED-2): the message contract on channels and streams, and message
persistence for TickStockApp instances that are offline or crash."""
