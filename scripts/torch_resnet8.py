"""inq's resnet8 (core/models/resnet.cpp) in PyTorch, with torchvision's module names and init:
conv3x3 in->16 (no bias), BN, ReLU; one torchvision BasicBlock per stage at 16, 32 (stride 2) and
64 (stride 2) channels with a 1x1 conv + BN shortcut where the shape changes; global average pool;
fc 64->classes. Shared by the benchmark, the PyTorch reference run and the golden tests."""
import torch
import torch.nn as nn
from torchvision.models.resnet import BasicBlock, conv1x1


class ResNet8(nn.Module):
    def __init__(self, num_classes=10, in_channels=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(BasicBlock(16, 16))
        self.layer2 = nn.Sequential(BasicBlock(16, 32, 2, nn.Sequential(conv1x1(16, 32, 2), nn.BatchNorm2d(32))))
        self.layer3 = nn.Sequential(BasicBlock(32, 64, 2, nn.Sequential(conv1x1(32, 64, 2), nn.BatchNorm2d(64))))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():  # as torchvision.models.ResNet.__init__
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))
